"""The HTML report: renders, self-contained, translated, escaped."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from servqual.report import render_html
from servqual.resources import locale_dir

from conftest import ROOT


@pytest.fixture(scope="module")
def html_en(sample_results):
    return render_html(sample_results[0], "en")


@pytest.fixture(scope="module")
def html_zh(sample_results):
    return render_html(sample_results[0], "zh-CN")


def test_report_shows_the_five_dimensions(html_en):
    for name in ("Tangibles", "Reliability", "Responsiveness", "Assurance", "Empathy"):
        assert name in html_en


def test_chinese_report_uses_chinese_labels(html_zh):
    for name in ("有形性", "可靠性", "响应性", "确实性", "个性化关怀", "服务质量报告", "期望",
                 "实际感受"):
        assert name in html_zh
    assert '<html lang="zh-CN">' in html_zh


def test_self_contained_plotly_once_no_external_requests(html_en):
    assert html_en.count("<script>") == 2  # plotly.js once, then our chart boot script
    assert html_en.count("Plotly.newPlot") >= 1
    # Nothing is loaded from elsewhere: no src/href to a URL, a strict CSP forbids it anyway.
    markup = re.sub(r"<script>.*?</script>", "", html_en, flags=re.S)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", markup)
    assert "default-src 'none'" in html_en
    assert "<link" not in html_en


def test_every_report_message_is_translated():
    from tools_catalog import template_messages  # noqa: I001

    with (locale_dir() / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    translated = {m.id: m.string for m in catalog if m.id}
    for message in template_messages():
        if message.id:
            assert translated.get(message.id), f"untranslated: {message.id!r}"


def test_strings_from_the_data_are_escaped(sample_results):
    results = sample_results[0]
    payload = '"\'><img src=x onerror=alert(2)>'
    results.inputs = [payload + ".csv"]
    try:
        html = render_html(results, "en")
    finally:
        results.inputs = []
    assert payload not in html
    assert "&#34;&#39;&gt;&lt;img src=x onerror=alert(2)&gt;.csv" in html


def test_template_dir_overrides_a_partial(sample_results, tmp_path):
    (tmp_path / "_summary.html").write_text("<section id='summary'>CUSTOM SUMMARY</section>")
    html = render_html(sample_results[0], "en", template_dir=tmp_path)
    assert "CUSTOM SUMMARY" in html and "Reliability" in html


def test_report_size_does_not_carry_raw_responses(html_en):
    # plotly.js is ~4.8 MB; everything else is aggregates.
    from servqual.report import plotly_js
    assert len(html_en) - len(plotly_js()) < 300_000
