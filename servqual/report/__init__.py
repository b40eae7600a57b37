"""Render: results → charts → one self-contained HTML file.

The templates live in ``reports/templates`` (``base.html`` with blocks, ``report.html`` with
one block per section, one partial per section). ``--template-dir`` puts a user's directory
in front of them, so any template can be replaced by a file of the same name; and every
built-in template is also reachable as ``builtin:NAME``, so a user's ``report.html`` can say
``{% extends "builtin:report.html" %}`` and override only the blocks it wants (a template
cannot extend itself by its own name; the prefix names the built-in one unambiguously).
Autoescaping is on and undefined values are errors.
"""

from __future__ import annotations

import base64
import re
import hashlib
import pickle
import traceback
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from babel.dates import format_date
from plotly.offline import get_plotlyjs

from ..resources import cache_dir, templates_dir
from ..celltext import bound_label
from ..errors import DataError
from ..results import Results
from .chart_style import CATEGORICAL, COLORS, FONT
from .charts import Charts
from ..translations import tighten, translations
from .i18n import Numbers, language

__all__ = ["BUILTIN_PREFIX", "environment", "plotly_js", "render_html"]

BUILTIN_PREFIX = "builtin"


def loader(template_dir: str | Path | None = None) -> jinja2.BaseLoader:
    """User templates first, then the built-in ones; built-ins also as ``builtin:NAME``."""
    builtin = jinja2.FileSystemLoader(str(templates_dir()))
    search: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        search.append(jinja2.FileSystemLoader(str(template_dir)))
    search.append(builtin)
    search.append(jinja2.PrefixLoader({BUILTIN_PREFIX: builtin}, delimiter=":"))
    return jinja2.ChoiceLoader(search)


def environment(lang: str, template_dir: str | Path | None = None) -> jinja2.Environment:
    """The Jinja2 environment of a report language (datasette-style factory)."""
    env = jinja2.Environment(
        loader=loader(template_dir),
        bytecode_cache=_bytecode_cache(),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)
    env.globals["_"] = env.globals["gettext"] = _gettext(translations(lang))
    numbers = Numbers(language(lang).locale)
    env.filters.update(num=numbers.num, signed=numbers.signed, integer=numbers.integer,
                       percent=numbers.percent, pvalue=numbers.pvalue)
    env.filters["localised"] = lambda texts: localised(texts, lang)
    env.filters["basename"] = lambda path: Path(str(path)).name
    env.filters["css_string"] = css_string
    return env


def _gettext(catalog):
    """Jinja's new-style ``_()``, with the catalog's spaces around placeholders tightened
    between Chinese words (:func:`..translations.tighten`)."""
    @jinja2.pass_context
    def gettext(context, message: str, **variables):
        text = tighten(catalog.gettext(message), variables)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables  # always a format string, as Jinja's own
    return gettext


class _QuietBytecodeCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept between runs (compiling them all takes about 0.12 s, loading
    them 0.005 s). Jinja keys each by the template's name and checks it against the source's
    checksum, so an edited template is compiled again. A cache that cannot be written is
    only a slower run, never an error."""

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError, pickle.UnpicklingError):  # unreadable: compile
            bucket.reset()


@cache
def _bytecode_cache() -> jinja2.BytecodeCache | None:
    directory = cache_dir("templates")
    return _QuietBytecodeCache(str(directory)) if directory is not None else None


def css_string(text: str) -> Markup:
    """A CSS string literal of ``text``: letters, digits and spaces as they are, everything
    else as a CSS escape (ended by the one space an escape takes), so that no text can end
    the string or the style element."""
    body = "".join(c if c.isalnum() or c == " " else f"\\{ord(c):x} " for c in str(text))
    return Markup(f'"{body}"')


def localised(texts: Any, lang: str) -> str:
    """A text given per language ({"en": …, "zh-CN": …}): the report's language, else English;
    a mapping without either (e.g. only numbers) gives an empty string."""
    if isinstance(texts, dict):
        value = texts.get(lang) or texts.get("en") or ""
        return value if isinstance(value, str) else ""
    return "" if texts is None else str(texts)


def segment_layout(record: dict, instrument) -> dict[str, Any]:
    """What the report shows of the segment columns, from the published results.

    ``columns``: the instrument's segment columns in its order (a column no respondent has a
    value in is still listed, to say so), then any other the results hold; ``values``: per
    column, the values published in some wave, in results order; ``current``: those
    published in the current wave; ``withheld``: per (column, wave), the count of groups not
    shown (``segments_withheld`` rows).
    """
    values: dict[str, list[str]] = {}
    current: dict[str, list[str]] = {}
    wave = record["current_wave"]
    for row in list(record.get("segments", [])) + list(record.get("segment_responses", [])):
        seen = values.setdefault(row["column"], [])
        if row["value"] not in seen:
            seen.append(row["value"])
        if row.get("wave", wave) == wave:
            now = current.setdefault(row["column"], [])
            if row["value"] not in now:
                now.append(row["value"])
    withheld = {(r["column"], r["wave"]): r for r in record.get("segments_withheld", [])}
    columns = list(instrument.analysis_segments)
    columns += [c for c in list(values) + [c for c, _ in withheld] if c not in columns]
    return {"columns": columns,
            "values": {c: values.get(c, []) for c in columns},
            "current": {c: current.get(c, []) for c in columns},
            "withheld": withheld}


def change_lookup(record: dict) -> dict[tuple, dict]:
    """The wave-over-wave record of each series, by what the report's tables show:
    ``("dimension", d)``, ``("item", i)`` and ``("segment", column, value, d)``."""
    out: dict[tuple, dict] = {}
    for row in record.get("wave_over_wave", []):
        level = row["level"]
        key = {"dimension": (level, row["dimension"]), "item": (level, row.get("item")),
               "segment": (level, row.get("column"), row.get("value"), row["dimension"])}
        out[key[level]] = row
    return out


@cache
def plotly_js() -> str:
    return get_plotlyjs()


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_html(results: Results, lang: str = "en", template_dir: str | Path | None = None,
                template: str = "report.html", *, comparison: Results | None = None,
                unit: dict[str, str] | None = None) -> str:
    """The report as one HTML string: CSS inline, plotly.js embedded once, no external request.

    ``comparison`` and ``unit`` make a unit's report (``--split-by``): ``results`` are the
    unit's respondents, ``comparison`` the whole sample, ``unit`` ``{"column", "value"}``.

    Only our own two scripts may run: the page's Content-Security-Policy lists their hashes,
    so even a string that escaped escaping could not execute.

    A template of ``template_dir`` that fails (its syntax, a name it uses, a template it
    includes, its arithmetic, its encoding) is an error naming the template and its line
    (exit 65).
    """
    try:
        return _render(results, lang, template_dir, template, comparison, unit)
    except Exception as err:
        if template_dir is None or (found := _in_user_template(err, Path(template_dir))) is None:
            raise
        raise DataError(found[1], file=found[0]) from err


def _in_user_template(err: Exception, template_dir: Path) -> tuple[Path, str] | None:
    """Where a user's template (of ``template_dir``) made ``err``, and what to say: the
    file and a message with the line; ``None`` when the error is not one of its own."""
    what = f"{type(err).__name__}: {err}"
    if isinstance(err, jinja2.TemplateSyntaxError) and err.filename:
        return Path(err.filename), f"line {err.lineno}: the template does not parse ({what})"
    if isinstance(err, UnicodeDecodeError) and any(
            "jinja2/loaders.py" in f.filename.replace("\\", "/")
            for f in traceback.extract_tb(err.__traceback__)):
        return template_dir, f"a template here is not UTF-8 text ({what})"
    root = template_dir.resolve()
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        path = Path(frame.filename)
        if path.suffix and path.resolve().is_relative_to(root):
            return path, f"line {frame.lineno}: the template fails ({what})"
    return None


def _render(results: Results, lang: str, template_dir: str | Path | None, template: str,
            comparison: Results | None, unit: dict[str, str] | None) -> str:
    env = environment(lang, template_dir)
    lang_info = language(lang)
    instrument = results.instrument
    record = results.to_json()  # labels bounded there (results.bound_labels)
    if unit is not None:
        unit = {key: bound_label(text) for key, text in unit.items()}
    whole = comparison.to_json() if comparison is not None else None
    labels = {d.key: d.label_for(lang) for d in instrument.dimensions}
    item_texts = {i.id: i.text_for(lang) for i in instrument.items}
    charts = Charts(results=record, labels=labels, item_texts=item_texts, comparison=whole,
                    scale=(instrument.scale_min, instrument.scale_max),
                    measure=instrument.score)
    boot = env.get_template("_charts.js").render()
    scripts = [plotly_js(), boot]
    layout = segment_layout(record, instrument)
    today = format_date(date.today(), format="long", locale=lang_info.locale)
    context = {
        "lang": lang,
        "sp": instrument.servperf,  # SERVPERF: perceptions only, no gaps (results "method")
        "report_date": today,
        # printed at the top of every page: who, what, which wave, when
        "running_header": " · ".join(part for part in (
            localised(instrument.report.organisation, lang),
            translations(lang).gettext("Service quality report"), record["current_wave"],
            instrument.value_label(unit["column"], unit["value"], lang) or unit["value"]
            if unit else "", today) if part),
        "by_wave": {(r["wave"], r["dimension"]): r for r in record["by_wave"]},
        "changes": change_lookup(record),
        "segment_columns": layout["columns"],
        "segment_values": layout["values"],
        "segment_current": layout["current"],
        "withheld": layout["withheld"],
        "html_lang": lang_info.html_lang,
        "sep": "" if lang.startswith("zh") else " ",  # between sentences: none in Chinese
        "results": record,
        "whole": whole,
        "whole_dimensions": {r["dimension"]: r for r in whole["dimensions"]} if whole else {},
        "unit": unit,
        "instrument": instrument,
        "labels": labels,
        "item_texts": item_texts,
        "item_dimension": dict(instrument.dimension_of_item),
        "charts": charts,
        "colors": COLORS,
        "categorical": CATEGORICAL,
        "font_stack": FONT,
        "scripts": scripts,
        "csp_script_hashes": " ".join(_csp_hash(s) for s in scripts),
        "inputs": [Path(p).name for p in results.inputs],
    }
    context["mail"] = mail_summary(env, context, lang)
    return env.get_template(template).render(context)


def text_environment(env: jinja2.Environment, trim_blocks: bool = True) -> jinja2.Environment:
    """``env`` for plain-text templates (an e-mail's subject and text part): nothing is
    HTML-escaped ("R&D", not "R&amp;D"). Its own environment: the bytecode cache keys
    templates by source, not by options."""
    plain = jinja2.Environment(loader=env.loader, autoescape=False, trim_blocks=trim_blocks,
                               lstrip_blocks=True, undefined=jinja2.StrictUndefined,
                               extensions=["jinja2.ext.i18n"])
    plain.globals.update(env.globals)
    plain.filters.update(env.filters)
    return plain


def mail_summary(env: jinja2.Environment, context: dict, lang: str) -> dict:
    """What ``servqual distribute`` needs of a report, carried inside it as JSON (so reports
    written earlier can be sent as they are): the wave, language and unit, and the e-mail's
    summary in e-mail-safe HTML (inline styles, no script) and plain text
    (``email/summary.html``, ``email/summary.txt``)."""
    record, unit, instrument = context["results"], context["unit"], context["instrument"]
    # Plain text keeps its line ends (no trim_blocks); the blank lines of its tags collapse.
    plain = text_environment(env, trim_blocks=False)
    return {
        "servqual_mail": 1, "wave": record["current_wave"], "lang": lang,
        "instrument": instrument.name_for(lang),
        "organisation": localised(instrument.report.organisation, lang),
        "unit": dict(unit) if unit else None,
        "unit_label": (instrument.value_label(unit["column"], unit["value"], lang)
                       or unit["value"]) if unit else "",
        "html": env.get_template("email/summary.html").render(context),
        "text": re.sub(r"\n\s*\n(\s*\n)+", "\n\n", plain.get_template(
            "email/summary.txt").render(context)).strip() + "\n",
    }
