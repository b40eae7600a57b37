"""The drafted instrument as TOML, with comments saying where each choice came from and
TODOs where the user must decide."""

from __future__ import annotations

import json
import re

from pathlib import Path

from . import Draft, draft
from .answers import vocabulary

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _s(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def _key(text: str) -> str:
    return text if _BARE.match(text) else _s(text)


def _column(draft: Draft, column) -> str:
    ref = draft.reference(column)
    return _s(ref) if isinstance(ref, str) else f"{{ position = {ref} }}"


def checked_draft(paths: list[Path], out: Path) -> tuple[str, list[str]]:
    """The instrument drafted from ``paths`` as TOML, loaded as a run will load it (a draft
    that does not load is a bug), and what was found, a line each."""
    import tomllib

    from ..ingest import reader_for
    from ..instrument import parse_instrument

    for path in paths:
        reader_for(path)  # missing, unreadable or unsupported files: their own exit codes
    drafted = draft(paths)
    text = instrument_text(drafted)
    parse_instrument(tomllib.loads(text), out)
    return text, drafted.found()


def instrument_text(draft: Draft) -> str:
    """The instrument file of a draft."""
    s, a = draft.survey, draft.answers
    out = [f"# Drafted by `servqual init` from {s.path.name}: check it, then run servqual "
           "report.", "# Reference of every key: README.md, \"The instrument file\".", "",
           "[instrument]", f"name = {_s('Service quality survey')}  # TODO: the survey's name",
           f"scale_min = {a.scale_min}", f"scale_max = {a.scale_max}"]
    missing = [f"{v:g}" for v in a.missing_numbers] + [_s(t) for t in a.missing_texts]
    out.append(f"missing_codes = [{', '.join(missing)}]")
    if a.pattern:
        out.append(f"answer_pattern = '{a.pattern}'  # answers written as \"5分\"")
    ident = draft.respondent_id
    out.append(f"respondent_id = {_s(ident.name) if ident else _s('')}"
               + ("" if ident else "  # none found: rows are numbered"))
    if draft.email_id:
        out.append('duplicates = "keep_last"  # a form people may submit again: the last '
                   "submission of an address counts")
    if draft.wave is not None:
        out.append(f"wave = {_s(draft.wave.name)}")
    else:
        out.append('wave = ""  # none found: --wave LABEL, or the file name, names the wave')
    out.append(f"segments = [{', '.join(_s(c.name) for c in draft.segments)}]"
               + ("  # TODO: keep the columns to break results down by" if draft.segments
                  else ""))
    if draft.overall is not None:
        out.append(f"overall_satisfaction = {_s(draft.overall.name)}")
    out.append(f"header_rows = {s.header_rows}")
    if s.names_row > 1:
        out.append(f"names_row = {s.names_row}")
    if s.skip_rows:
        out.append(f"skip_rows = {s.skip_rows}  # title rows above the header")
    encoding = s.encoding if s.encoding and s.encoding not in ("utf-8", "utf-8-sig") else "auto"
    out.append(f"encoding = {_s(encoding)}")
    if a.labels or a.unknown:
        out += ["", "[answer_labels]" + (f"  # the {a.label_set} answer texts" if a.label_set
                                          else "")]
        out += [f"{_s(t)} = {score}" for t, score in a.labels.items()]
        out += [f"# {_s(t)} = ?  # TODO: the score of this text, or \"missing\"" for t in
                a.unknown]
    out += ["", *_dimensions(draft), *_items(draft)]
    if draft.unpaired:
        out += ["", "# TODO: answer columns in no item (a perception without expectation, or "
                "another question):"]
        out += [f"#   {c.name or '(blank)'} (column {c.position + 1})" for c in draft.unpaired]
    return "\n".join(out) + "\n"


def _dimensions(draft: Draft) -> list[str]:
    if not draft.standard:
        return ["[dimensions.service]  # TODO: the dimensions, and each item's below",
                'label = { en = "Service quality", zh-CN = "服务质量" }', ""]
    out = []
    for dimension in vocabulary()["servqual"]:
        label = dimension["label"]
        out += [f"[dimensions.{dimension['key']}]",
                f"label = {{ en = {_s(label['en'])}, zh-CN = {_s(label['zh-CN'])} }}", ""]
    return out


def _dimension_of(draft: Draft) -> list[str]:
    if not draft.standard:
        return ["service"] * len(draft.items)
    return [d["key"] for d in vocabulary()["servqual"] for _ in range(d["items"])]


def _items(draft: Draft) -> list[str]:
    out = []
    for n, (item, dimension) in enumerate(zip(draft.items, _dimension_of(draft)), start=1):
        out += ["[[items]]", f'id = "q{n:02d}"', f'dimension = "{dimension}"']
        if item.how == "repeated text":
            out.append("# TODO: two columns carry this text; the first is taken as the "
                       "expectation, the second as the perception")
        for role in ("expectation", "perception", "importance"):
            if role in item.columns:  # no expectation: a perception-only (SERVPERF) item
                out.append(f"{role} = {_column(draft, item.columns[role])}")
        text = _s(item.text)
        out += [f"text = {{ en = {text}, zh-CN = {text} }}  # TODO: the wording in each "
                "language", ""]
    return out
