"""Render: results → charts → one self-contained HTML file.

The templates live in ``reports/templates`` (``base.html`` with blocks, one partial per
section); ``--template-dir`` puts a user's directory in front of them, so any template can be
replaced or extended. Autoescaping is on and undefined values are errors.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path

import jinja2
from plotly.offline import get_plotlyjs

from ..resources import templates_dir
from ..results import Results
from .charts import COLORS, FONT, Charts
from .i18n import Numbers, language, translations

__all__ = ["render_html", "environment"]


def environment(lang: str, template_dir: str | Path | None = None) -> jinja2.Environment:
    """The Jinja2 environment of a report language (datasette-style factory)."""
    search = [str(templates_dir())]
    if template_dir is not None:
        search.insert(0, str(template_dir))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)
    numbers = Numbers(language(lang).locale)
    env.filters.update(num=numbers.num, signed=numbers.signed, integer=numbers.integer,
                       percent=numbers.percent, pvalue=numbers.pvalue)
    return env


@cache
def plotly_js() -> str:
    return get_plotlyjs()


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_html(results: Results, lang: str = "en", template_dir: str | Path | None = None,
                template: str = "report.html") -> str:
    """The report as one HTML string: CSS inline, plotly.js embedded once, no external request.

    Only our own two scripts may run: the page's Content-Security-Policy lists their hashes,
    so even a string that escaped escaping could not execute.
    """
    env = environment(lang, template_dir)
    lang_info = language(lang)
    instrument = results.instrument
    dimension_labels = [instrument.dimension(d).label_for(lang)
                        for d in results.dimensions["dimension"]]
    record = results.to_json()
    charts = Charts(dimension_labels=dimension_labels, dimensions=record["dimensions"])
    boot = env.get_template("_charts.js").render()
    scripts = [plotly_js(), boot]
    context = {
        "lang": lang,
        "html_lang": lang_info.html_lang,
        "results": record,
        "instrument": instrument,
        "labels": {d.key: d.label_for(lang) for d in instrument.dimensions},
        "item_texts": {i.id: i.text_for(lang) for i in instrument.items},
        "charts": charts,
        "colors": COLORS,
        "font_stack": FONT,
        "scripts": scripts,
        "csp_script_hashes": " ".join(_csp_hash(s) for s in scripts),
        "inputs": [Path(p).name for p in results.inputs],
    }
    return env.get_template(template).render(context)
