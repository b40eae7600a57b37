"""Wave labels: parse them, order them chronologically and place them on a time axis.

Supported labels (contract §2): quarters ``2026Q3`` (also ``2026-Q3``, ``2026 q3``,
``Q3 2026``, ``2026年第3季度``, full-width ``２０２６Ｑ３``), months ``2026-07`` (also
``2026/07``, ``2026年7月``) and ISO dates ``2026-07-15``. Any other labels are ordered
naturally ("wave2" before "wave10") and treated as equally spaced, which :func:`time_axis`
reports so the caller can say so. A run whose labels mix the two kinds, or spell one period
two ways, is refused (:func:`check_wave_spellings`).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_QUARTER = re.compile(r"^\s*(\d{4})\s*(?:年\s*)?[-_/ ]?\s*(?:[Qq]|第)\s*([1-4])\s*(?:季度?)?\s*$")
_QUARTER_FIRST = re.compile(r"^\s*[Qq]\s*([1-4])\s*[-_/ ]?\s*(\d{4})\s*$")  # Q3 2026
_MONTH = re.compile(r"^\s*(\d{4})\s*(?:[-_/.]|年)\s*(\d{1,2})\s*月?\s*$")
_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")
_NATURAL = re.compile(r"(\d+)")


@dataclass(frozen=True, order=True)
class WaveKey:
    """A sortable key of a wave label."""

    kind: int  # 0 = calendar (quarter, month, date), 1 = free text
    date: dt.date
    natural: tuple


def _natural_key(label: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p.lower() for p in _NATURAL.split(label))


def parse_wave(label: str) -> tuple[str, dt.date | None]:
    """Return ``(granularity, first day)`` for a label; granularity is quarter/month/date/other.
    Full-width characters read as their ASCII forms (``２０２６Ｑ３`` is 2026Q3)."""
    label = unicodedata.normalize("NFKC", label)
    if m := _QUARTER.match(label):
        year, q = int(m.group(1)), int(m.group(2))
        return "quarter", dt.date(year, 3 * (q - 1) + 1, 1)
    if m := _QUARTER_FIRST.match(label):
        year, q = int(m.group(2)), int(m.group(1))
        return "quarter", dt.date(year, 3 * (q - 1) + 1, 1)
    if m := _DATE.match(label):
        try:
            return "date", dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return "other", None
    if m := _MONTH.match(label):
        month = int(m.group(2))
        if 1 <= month <= 12:
            return "month", dt.date(int(m.group(1)), month, 1)
    return "other", None


def wave_key(label: str) -> WaveKey:
    kind, date = parse_wave(label)
    if date is None:
        return WaveKey(1, dt.date.min, _natural_key(label))
    return WaveKey(0, date, _natural_key(label))


def sort_waves(labels) -> list[str]:
    """Distinct labels in chronological order."""
    return sorted(set(labels), key=wave_key)


def check_wave_spellings(labels, stored=()) -> None:
    """The wave labels of one run must order the waves without doubt; exit 65 when not.

    Two labels that name the same quarter, month or day in different spellings (``2026Q3``,
    ``2026-Q3``, ``2026年第3季度``, ``２０２６Ｑ３``): taken as two waves, one period's
    respondents would count twice in the trends, and the spelling that sorts last would
    become the current wave. Labels that are dates beside labels that are not (``2026Q2``
    beside ``Q4 2025 final`` or ``2026Q3 (1)``, a copy's file name): a label that is not a
    date sorts after every date, so it would become the current wave whatever it holds.
    ``stored``: the labels of a history store the run adds to.
    """
    from .errors import DataError

    seen: dict[tuple[str, dt.date], str] = {}
    ordered = sorted({*stored}) + sorted(set(labels) - {*stored})
    parsed = {w: parse_wave(w) for w in ordered}
    dated = [w for w in ordered if parsed[w][1] is not None]
    free = [w for w in ordered if parsed[w][1] is None]
    if dated and free:
        where = "the history store holds" if free[0] in stored else "the files give"
        raise DataError(f"the wave label {free[0]!r} ({where} it) is not a quarter, month or "
                        f"date, as {dated[-1]!r} is: it would sort after every dated wave and "
                        "become the current one. Label every wave as a date (2026Q3, "
                        "2026-09, 2026-09-30), in the wave column or the file names")
    for label in dated:
        other = seen.setdefault(parsed[label], label)
        if other != label:
            where = "the history store holds" if other in stored else "the files give"
            kind = parsed[label][0]
            raise DataError(f"the wave labels {other!r} and {label!r} name the same {kind} "
                            f"({where} {other!r}): write it one way in the wave column or "
                            "the file names, or its respondents count as two waves")


def check_wave_option(label: str, paths) -> None:
    """``--wave LABEL`` makes every file one wave: a usage error when the files' names are
    themselves different quarters, months or days (``--wave 2027Q1`` over ``2026Q2.csv`` and
    ``2026Q3.csv`` would count two quarters as one, silently)."""
    from .errors import UsageError

    named = {}
    for path in paths:
        kind, date = parse_wave(Path(path).stem)
        if date is not None:
            named.setdefault((kind, date), Path(path).stem)
    if len(named) > 1:
        stems = sorted(named.values(), key=wave_key)
        raise UsageError(f"--wave {label} names the wave of every file, and the files' names "
                         f"are the waves {', '.join(stems)}: leave out --wave to read each "
                         "file as the wave its name says, or give the files of one wave")


def wave_from_filename(path: str | Path, label: str = "") -> str:
    """The wave of a file without a wave column: ``label`` (``--wave``, the instrument's
    ``wave_label``) when given, else its name stem (``2026Q3.csv`` → ``2026Q3``)."""
    return label or Path(path).stem


def check_wave_label(label: str) -> str:
    """A wave label given on the command line (``--wave``), stripped; a usage error when it is
    blank, too long for a label or holds control characters."""
    from .errors import UsageError

    text = label.strip()
    if not text or len(text) > 40 or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise UsageError(f"--wave {label!r}: give a wave label of 1 to 40 printable characters, "
                         "e.g. 2026Q3, 2026-09 or 2026-09-30 (these sort by date)")
    return text


@dataclass(frozen=True)
class TimeAxis:
    """Positions of waves on a time axis, in units of the usual spacing between waves."""

    labels: list[str]
    positions: np.ndarray  # float, first wave at 0, one unit = the median spacing of waves
    granularity: str  # what the labels count: "quarter", "month", "day" or "wave"
    calendar: bool  # False when labels were not dates and are treated as equally spaced
    step: float = 1.0  # one unit of ``positions`` in ``granularity``s (the median spacing)


def time_axis(labels) -> TimeAxis:
    """Place waves on a real time axis, so that a skipped quarter does not distort a slope.

    Quarters are counted in quarters, months (and mixed quarters and months) in months, dates
    in days; positions are then divided by the median spacing between consecutive waves, so a
    slope per unit is a slope *per wave* while a gap in the series keeps its real length.
    Non-calendar labels are equally spaced.
    """
    ordered = sort_waves(labels)
    parsed = [parse_wave(w) for w in ordered]
    kinds = {k for k, _ in parsed}
    if not ordered or "other" in kinds:
        return TimeAxis(ordered, np.arange(len(ordered), dtype=float), "wave", not ordered)
    dates = [d for _, d in parsed]
    if kinds == {"quarter"}:
        pos = np.array([d.year * 4 + (d.month - 1) // 3 for d in dates], dtype=float)
        granularity = "quarter"
    elif kinds <= {"quarter", "month"}:
        pos = np.array([d.year * 12 + d.month - 1 for d in dates], dtype=float)
        granularity = "month"
    else:
        pos = np.array([d.toordinal() for d in dates], dtype=float)
        granularity = "day"
    pos = pos - pos[0]
    step = 1.0
    if len(pos) > 1 and float(np.median(np.diff(pos))) > 0:
        step = float(np.median(np.diff(pos)))
        pos = pos / step
    return TimeAxis(ordered, pos, granularity, True, step)
