"""Answer labels: the texts a survey platform writes for an answer, read as scores.

Exports from 问卷星 (按文本), LimeSurvey, Google Forms or Qualtrics give the answer's text
("5分", "Strongly agree", "(跳过)") where servqual needs its score. The instrument says how
to read them (contract §5):

* ``[answer_labels]`` maps texts to scores or to ``"missing"``; named sets under
  ``[answer_labels.NAME]`` are chosen per item with ``labels = "NAME"`` and take precedence
  over the default set for that item's columns;
* texts in ``missing_codes`` are missing answers in every column;
* ``answer_pattern`` is a regular expression whose first group is the score
  (``'^(\\d+)\\s*分$'`` reads "5分" as 5), for the texts no label names.

A text is matched by :func:`answer_key`: trimmed, NFKC-normalised (full-width letters and
digits as their ASCII forms) and case-folded, so "Strongly Agree ", "strongly agree" and
"ＳＴＲＯＮＧＬＹ agree" are one label. A text that no label names, the pattern does not
read, and that is not a number, is an answer that is not a number (``non_numeric``): the
quarantine shows it.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field

MISSING = "missing"  # the value of a label that means "no answer"


def answer_key(text: str) -> str:
    """How an answer text is compared with the labels: trimmed, NFKC, case-folded."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


@dataclass(frozen=True)
class AnswerLabels:
    """The labels of an instrument. Scores are floats; a missing answer is NaN."""

    default: dict[str, float] = field(default_factory=dict)  # answer_key → score
    named: dict[str, dict[str, float]] = field(default_factory=dict)
    pattern: re.Pattern | None = None

    def __bool__(self) -> bool:
        return bool(self.default or self.named or self.pattern)

    def for_set(self, name: str = "") -> dict[str, float]:
        """The labels of a column: its item's named set over the default one."""
        return {**self.default, **self.named.get(name, {})} if name else self.default

    def read(self, texts: list[str], name: str = "") -> list[float | None]:
        """The score each text is given by the labels of set ``name`` or the pattern: NaN for
        a missing answer, ``None`` where neither reads it (it may be a number)."""
        labels = self.for_set(name)
        out: list[float | None] = []
        for text in texts:
            key = answer_key(text)
            if key in labels:
                out.append(labels[key])
                continue
            found = self.pattern.search(key) if self.pattern is not None else None
            out.append(_number(found.group(1)) if found else None)
        return out


@dataclass(frozen=True)
class AnswerCodes:
    """``[answer_codes]``: the codes a file writes for the options (问卷星 按序号 writes an
    option's position: on a 0–10 scale, code 1 is 0), as scores; NaN for "missing". Named
    sets under ``[answer_codes.NAME]`` are chosen per item with ``codes = "NAME"``.

    A code of a column the codes apply to that no code names (and that is no missing code)
    is out of the scale: the quarantine shows it as the file wrote it.
    """

    default: dict[float, float] = field(default_factory=dict)
    named: dict[str, dict[float, float]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.default or self.named)

    def for_set(self, name: str = "") -> dict[float, float]:
        return {**self.default, **self.named.get(name, {})} if name else self.default


def recode(values, codes: dict[float, float], missing) -> None:
    """Codes to scores in place (:class:`AnswerCodes`): blanks and ``missing`` codes stay,
    a code no entry names becomes infinity (out of scale)."""
    import numpy as np

    keep = np.isnan(values) | np.isin(values, list(missing))
    out = np.full(values.shape, np.inf, dtype=values.dtype)
    for code, score in codes.items():
        out[values == code] = score
    values[:] = np.where(keep, values, out)


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return None if math.isnan(value) else value
