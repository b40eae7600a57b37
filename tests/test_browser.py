"""The report in a real browser: Debian's Chromium driven by Playwright.

Locally these tests skip when Chromium (or playwright) is missing; with CI set they fail
instead, so CI always runs them. Screenshots of every section are written under each test's
temporary folder for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures import XSS_PAYLOADS, WithFindings, hostile
from servqual.instrument import load_instrument
from fixtures import run_and_check
from servqual.report import render_html

pytestmark = pytest.mark.browser

SCREEN = {"width": 1366, "height": 768}  # the most common laptop screen


@pytest.fixture(scope="module")
def report_files(sample_results, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    files = {}
    for lang in ("en", "zh-CN"):
        files[lang] = folder / f"report.{lang}.html"
        files[lang].write_text(render_html(sample_results[0], lang), encoding="utf-8")
        # with findings in the contract's shapes: weak points, targets, complaints, IPA
        files["findings-" + lang] = folder / f"findings.{lang}.html"
        files["findings-" + lang].write_text(
            render_html(WithFindings(sample_results[0]), lang), encoding="utf-8")
    return files


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    instrument, data = hostile(folder)
    results, _ = run_and_check([data], load_instrument(instrument))
    files = {}
    for lang in ("en", "zh-CN"):
        files[lang] = folder / f"hostile.{lang}.html"
        files[lang].write_text(render_html(results, lang), encoding="utf-8")
    return files


class Visit:
    """A page with everything that went wrong on it: console errors, uncaught exceptions,
    dialogs (alert/confirm) and any request that is not the report file itself."""

    def __init__(self, browser, path: Path, *, bypass_csp: bool = False,
                 viewport: dict | None = None) -> None:
        self.context = browser.new_context(viewport=viewport or SCREEN, bypass_csp=bypass_csp)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        page = self.page
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: self.problems.append(f"request: {r.url}")
                if r.url != path.as_uri() else None)
        page.goto(path.as_uri(), wait_until="load")

    def close(self) -> None:
        self.context.close()

    def __enter__(self) -> "Visit":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def screenshots(page, folder: Path) -> list[Path]:
    """One screenshot per section and one of the whole page."""
    folder.mkdir(parents=True, exist_ok=True)
    shots = []
    for section in page.locator("section.section").all():
        path = folder / f"{section.get_attribute('id')}.png"
        section.screenshot(path=str(path))
        shots.append(path)
    full = folder / "full-page.png"
    page.screenshot(path=str(full), full_page=True)
    return shots + [full]


def chart_state(page) -> dict:
    return page.evaluate("""() => {
        const plots = [...document.querySelectorAll('div.plot')];
        return {plots: plots.length,
                drawn: plots.filter(d => d.querySelector('svg.main-svg') && d._fullLayout).length,
                names: plots.map(d => d.dataset.chart)};
    }""")


@pytest.mark.parametrize("lang", ["en", "zh-CN", "findings-en", "findings-zh-CN"])
def test_report_loads_without_errors_and_draws_every_chart(browser, report_files, lang,
                                                            tmp_path):
    with Visit(browser, report_files[lang]) as visit:
        state = chart_state(visit.page)
        assert visit.problems == []
        assert state["plots"] >= 8, state["names"]
        assert state["drawn"] == state["plots"], state["names"]
        expected = ["headline", "radar", "gap_bars", "trend_gaps", "item_heatmap", "segment"]
        if lang.startswith("findings"):
            expected += ["importance_performance", "complaints"]
        for name in expected:
            assert name in state["names"]
        shots = screenshots(visit.page, tmp_path / "screens")
        section_ids = visit.page.eval_on_selector_all("section.section", "s => s.map(x => x.id)")
        assert len(shots) == len(section_ids) + 1
        assert all(p.stat().st_size > 2_000 for p in shots)


PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize("lang", ["findings-en", "findings-zh-CN"])
def test_report_reads_on_a_phone(browser, report_files, lang, tmp_path):
    """At 390 px the page never scrolls sideways: wide tables scroll in their own box, and
    every chart is drawn within the width."""
    with Visit(browser, report_files[lang], viewport=PHONE) as visit:
        page = visit.page
        assert visit.problems == []
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        state = chart_state(page)
        assert state["drawn"] == state["plots"]
        widths = page.evaluate(
            "[...document.querySelectorAll('div.plot')].map(d => d.getBoundingClientRect().right)")
        assert max(widths) <= PHONE["width"]
        page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)


def test_report_fits_1366_pixels_and_the_printed_page(browser, report_files, tmp_path):
    with Visit(browser, report_files["en"]) as visit:
        page = visit.page
        overflow = """() => {
            const limit = document.querySelector('main').getBoundingClientRect().right + 1;
            return [...document.querySelectorAll('main .chart, main table, main svg.main-svg')]
              .filter(e => !e.closest('.scroll'))
              .filter(e => e.getBoundingClientRect().right > limit)
              .map(e => e.className.baseVal ?? e.className);
        }"""
        assert page.evaluate("document.documentElement.scrollWidth") <= SCREEN["width"]
        assert page.evaluate(overflow) == []
        page.emulate_media(media="print")
        page.wait_for_function("""() => [...document.querySelectorAll('div.plot')]
            .every(d => d._fullLayout && d._fullLayout.width <= 700)""")
        assert page.evaluate(overflow) == []
        # On paper nothing scrolls: every table, the widest (items) included, fits the page
        # (A4 less the print margins: 186 mm, 703 CSS px).
        page.set_viewport_size({"width": 703, "height": 1000})
        assert page.evaluate("""() => {
            const limit = document.querySelector('main').getBoundingClientRect().right + 1;
            return [...document.querySelectorAll('main table')]
              .filter(t => Math.max(t.getBoundingClientRect().right,
                                    ...[...t.querySelectorAll('th, td')].map(
                                        c => c.getBoundingClientRect().right)) > limit)
              .map(t => t.className);
        }""") == []
        pdf = tmp_path / "report.pdf"
        page.pdf(path=str(pdf), format="A4", print_background=True)
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 50_000
        assert visit.problems == []


def test_chinese_report_shows_chinese_labels(browser, report_files, tmp_path):
    with Visit(browser, report_files["zh-CN"]) as visit:
        page = visit.page
        assert page.inner_text("#summary h2").endswith("摘要")
        assert page.get_attribute("html", "lang") == "zh-CN"
        header = page.inner_text("#dimensions thead")
        assert "期望" in header and "实际感受" in header and "差距" in header
        radar = page.locator("[data-chart=radar]").text_content()
        for label in ("有形性", "可靠性", "响应性", "确实性", "个性化关怀", "期望", "实际感受"):
            assert label in radar
        # Fonts: the CJK text is drawn with a real CJK font, not boxes (glyph width > 0).
        width = page.evaluate("""() => { const s = document.createElement('span');
            s.textContent = '可靠性'; document.body.appendChild(s);
            const w = s.getBoundingClientRect().width; s.remove(); return w; }""")
        assert width > 20
        screenshots(page, tmp_path / "screens")


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize("bypass_csp", [False, True], ids=["with-csp", "escaping-alone"])
def test_script_payloads_in_the_data_stay_inert(browser, hostile_files, lang, bypass_csp,
                                                tmp_path):
    """Payloads in segment values, item texts, a dimension label, the instrument name and the
    file name are shown as text and never run: with the page's CSP, and without it (Playwright
    bypasses the CSP), which proves the escaping alone keeps them inert."""
    with Visit(browser, hostile_files[lang], bypass_csp=bypass_csp) as visit:
        page = visit.page
        for element in page.locator("#segments tbody th, #items td.statement").all():
            element.hover(timeout=2_000)
        assert page.evaluate("window.__xss") is None
        assert visit.dialogs == []
        injected = page.evaluate("""() => ({
            handlers: document.querySelectorAll('[onerror],[onload],[onmouseover]').length,
            scripts: document.querySelectorAll('script:not([type="application/json"])').length,
            data: [...document.querySelectorAll('script[type="application/json"]')].map(
                s => s.id),
            images: document.querySelectorAll('img').length,
            javascript_links: document.querySelectorAll('a[href^="javascript"]').length})""")
        # our two scripts, and the data servqual distribute reads (never run: JSON)
        assert injected == {"handlers": 0, "scripts": 2, "data": ["servqual-mail"],
                            "images": 0, "javascript_links": 0}
        text = page.inner_text("body")
        for payload in XSS_PAYLOADS[:4]:
            assert payload in text  # shown literally, as the characters typed
        charts = page.locator("[data-chart=segment]").first.text_content()
        assert XSS_PAYLOADS[2] in charts  # Plotly draws the escaped value as plain text
        assert not [p for p in visit.problems if "request" in p]
        screenshots(page, tmp_path / "screens")
