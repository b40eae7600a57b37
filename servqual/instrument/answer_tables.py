"""``[answer_labels]`` and ``[answer_codes]`` of an instrument file read and checked (what
they mean: :mod:`.answers`). Each problem is an :class:`~servqual.errors.InstrumentError`
naming the file and the key."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from ..celltext import is_number
from ..errors import InstrumentError
from .answers import MISSING, AnswerCodes, AnswerLabels, answer_key
from .model import Settings

_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_answer_labels(table: Any, settings: Settings, path: Path) -> AnswerLabels:
    """``[answer_labels]`` (texts → scores or "missing", and named sets), the texts among
    ``missing_codes`` and ``answer_pattern``, checked (:mod:`.answers`)."""
    where = "answer_labels"
    if not isinstance(table, dict):
        raise InstrumentError("must be a table of answer texts", file=path, key=where)

    def scores(entries: dict, key: str) -> dict[str, float]:
        out: dict[str, float] = {}
        first: dict[str, str] = {}
        for text, value in entries.items():
            at = f"{key}.{text}"
            if not text.strip():
                raise InstrumentError("an answer label must not be blank", file=path, key=at)
            if is_number(text):
                raise InstrumentError(
                    f"{text!r} is a number: answers that are numbers are read as numbers "
                    "(list a number meaning 'no answer' in instrument.missing_codes)",
                    file=path, key=at)
            if value == MISSING:
                score = math.nan
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                score = float(value)
                if not settings.scale_min <= score <= settings.scale_max:
                    raise InstrumentError(
                        f"the score {value} lies outside the answer scale "
                        f"{settings.scale_min}..{settings.scale_max}", file=path, key=at)
            else:
                raise InstrumentError(f'must be a score or "{MISSING}", got {value!r}',
                                      file=path, key=at)
            k = answer_key(text)
            if k in out and not (out[k] == score or (math.isnan(out[k]) and math.isnan(score))):
                raise InstrumentError(f"{text!r} and {first[k]!r} are the same label (case, "
                                      "width and blanks aside) with different scores",
                                      file=path, key=at)
            out[k], first[k] = score, text
        return out

    default = {answer_key(c): math.nan for c in settings.missing_codes if isinstance(c, str)}
    for n, code in enumerate(settings.missing_codes):
        if isinstance(code, str) and (not code.strip() or is_number(code)):
            raise InstrumentError("a text missing code must be a text that is not a number "
                                  "(numbers are listed as numbers)", file=path,
                                  key=f"instrument.missing_codes[{n}]")
    plain, named = _sets(table, where, scores, path)
    default.update(plain)
    pattern = None
    if settings.answer_pattern:
        try:
            pattern = re.compile(settings.answer_pattern)
        except re.error as err:
            raise InstrumentError(f"is not a regular expression: {err}", file=path,
                                  key="instrument.answer_pattern") from None
        if pattern.groups < 1:
            raise InstrumentError("needs a group around the score, as in '^(\\d+)\\s*分$'",
                                  file=path, key="instrument.answer_pattern")
    return AnswerLabels(default=default, named=named, pattern=pattern)


def parse_answer_codes(table: Any, settings: Settings, path: Path) -> AnswerCodes:
    """``[answer_codes]``: whole-number codes → scores or "missing", and named sets."""
    where = "answer_codes"
    if not isinstance(table, dict):
        raise InstrumentError("must be a table of codes", file=path, key=where)

    def scores(entries: dict, key: str) -> dict[float, float]:
        out = {}
        for code, value in entries.items():
            at = f"{key}.{code}"
            try:
                number = float(int(code.strip()))
            except ValueError:
                raise InstrumentError("a code is a whole number as the file writes it (1 = 0 "
                                      "reads code 1 as the score 0)", file=path,
                                      key=at) from None
            if value == MISSING:
                out[number] = math.nan
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and \
                    settings.scale_min <= value <= settings.scale_max:
                out[number] = float(value)
            else:
                raise InstrumentError(
                    f'must be a score on the scale {settings.scale_min}..{settings.scale_max} '
                    f'or "{MISSING}", got {value!r}', file=path, key=at)
        return out

    default, named = _sets(table, where, scores, path)
    return AnswerCodes(default=default, named=named)


def _sets(table: dict, where: str, scores, path: Path) -> tuple[dict, dict[str, dict]]:
    """The default set (the table's plain entries) and the named sets (its sub-tables) of
    ``[answer_labels]`` or ``[answer_codes]``, each read by ``scores(entries, key)``."""
    default = scores({k: v for k, v in table.items() if not isinstance(v, dict)}, where)
    named = {}
    for name, entries in table.items():
        if isinstance(entries, dict):
            if not _KEY_RE.match(name):
                raise InstrumentError("a named set needs an identifier (letters, digits, _)",
                                      file=path, key=f"{where}.{name}")
            named[name] = scores(entries, f"{where}.{name}")
    return default, named

