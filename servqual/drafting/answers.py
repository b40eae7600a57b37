"""The answers of a survey as ``servqual init`` drafts them: the scale, the missing codes,
and how answers written as text are read (``answer_pattern``, ``[answer_labels]``).

Numbers that platforms write for "no answer" (-99, -3, 99 …) are missing codes when they lie
outside the scale the other answers span; the scale is the smallest usual one (1–5, 1–7,
0–10 …) holding them. Texts are read as "N分" when most of them look so, and otherwise by the
first answer-text set of ``reports/drafting.toml`` that holds them all; texts that mean "no
answer" are missing codes; any other text is left to the user as a TODO.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

from ..files import read_toml
from ..instrument.answers import answer_key
from ..resources import data_file

# Values platforms write for "no answer" (Qualtrics -99, 问卷星 -2/-3, SPSS habits 9/99 …).
NO_ANSWER_NUMBERS = {-99.0, -98.0, -9.0, -3.0, -2.0, -1.0, 9.0, 98.0, 99.0, 999.0, 9999.0}
SCALE_TOPS = (3, 4, 5, 6, 7, 9, 10, 11)
_STRAY = 0.005  # answers above a scale's top up to this share are typing errors
POINTS = re.compile(r"^\s*(\d+)\s*分\s*$")
POINTS_PATTERN = r"^(\d+)\s*分$"


@cache
def vocabulary() -> dict:
    """``reports/drafting.toml``: answer-text sets, missing texts, the SERVQUAL structure."""
    return read_toml(data_file("drafting.toml"), "drafting vocabulary")


@dataclass
class Answers:
    scale_min: int = 1
    scale_max: int = 5
    missing_numbers: list[float] = field(default_factory=list)
    missing_texts: list[str] = field(default_factory=list)
    pattern: str = ""
    labels: dict[str, int] = field(default_factory=dict)  # text as seen → score
    label_set: str = ""  # the vocabulary set the labels come from
    unknown: list[str] = field(default_factory=list)  # texts no rule reads (TODO)


def is_answer_text(text: str) -> bool:
    """Whether a text could be an answer: a points text, a known answer or "no answer"."""
    key = answer_key(text)
    return bool(POINTS.match(key)) or key in _known_texts()


@cache
def _known_texts() -> frozenset[str]:
    vocab = vocabulary()
    texts = {answer_key(t) for t in vocab["missing_texts"]}
    for scale in vocab["scales"]:
        texts |= {answer_key(t) for group in scale["texts"] for t in group}
    return frozenset(texts)


def draft_answers(numbers: list[float], texts: list[str]) -> Answers:
    """Scale, missing codes and labels from every answer the answer columns hold."""
    answers = Answers()
    vocab = vocabulary()
    missing = {answer_key(t) for t in vocab["missing_texts"]}
    counts = Counter(texts)
    seen_missing = sorted({t for t in counts if answer_key(t) in missing})
    answers.missing_texts = seen_missing
    rest = [t for t in counts if answer_key(t) not in missing]
    points = [t for t in rest if POINTS.match(answer_key(t))]
    values = list(numbers)
    if points and sum(counts[t] for t in points) * 2 >= sum(counts[t] for t in rest):
        answers.pattern = POINTS_PATTERN
        values += [float(POINTS.match(answer_key(t)).group(1)) for t in points]
        rest = [t for t in rest if t not in points]
    if rest:
        chosen = _label_set(rest)
        if chosen is not None:
            answers.label_set = chosen["name"]
            scores = {answer_key(t): chosen["scale_min"] + n
                      for n, group in enumerate(chosen["texts"]) for t in group}
            answers.labels = {t: scores[answer_key(t)] for t in sorted(rest)
                              if answer_key(t) in scores}
            values += [float(chosen["scale_min"]), float(chosen["scale_max"])]
        answers.unknown = sorted(t for t in rest if t not in answers.labels)
    _scale(answers, values)
    return answers


def _label_set(texts: list[str]) -> dict | None:
    """The first answer-text set holding every text (else the one holding most, if any)."""
    keys = {answer_key(t) for t in texts}
    best, held = None, 0
    for scale in vocabulary()["scales"]:
        known = {answer_key(t) for group in scale["texts"] for t in group}
        if keys <= known:
            return scale
        if len(keys & known) > held:
            best, held = scale, len(keys & known)
    return best


def _scale(answers: Answers, values: list[float]) -> None:
    """The smallest usual scale holding all but a stray few answers (those are then out of
    scale, as a typing error is); "no answer" codes outside it are missing codes, and so is
    0 where it is much rarer than the answers of a 1-based scale."""
    counts = Counter(v for v in values if float(v).is_integer())
    answers.missing_numbers = sorted(v for v in counts if v in NO_ANSWER_NUMBERS)
    body = {v: n for v, n in counts.items() if v not in NO_ANSWER_NUMBERS}
    if not body:
        return
    total = sum(body.values())
    positive = sorted(n for v, n in body.items() if v >= 1)
    zero_rare = bool(positive) and body.get(0.0, 0) < 0.2 * positive[len(positive) // 2]
    low = 1 if zero_rare or min(body) >= 1 else 0
    stray = _STRAY * total
    top = next((t for t in SCALE_TOPS if t > low and
                sum(n for v, n in body.items() if v > t) <= stray), int(max(body)))
    answers.scale_min, answers.scale_max = low, top
    if zero_rare and 0.0 in body:
        answers.missing_numbers = sorted({0.0, *answers.missing_numbers})
    answers.missing_numbers = [v for v in answers.missing_numbers if not low <= v <= top]
