"""Drafting an instrument from survey files: ``servqual init FILE... [--out PATH]``.

:func:`draft` reads the files (:mod:`.survey`: encoding, title and header rows, platform),
decides what each column is (:mod:`.roles`: id, timestamp, wave, segments, the expectation,
perception and importance of each item), drafts the answers (:mod:`.answers`: scale, missing
codes, answer texts) and writes the instrument as TOML with comments (:mod:`.writing`); what
it cannot decide is written as a commented TODO. The draft is checked by loading it as
``servqual report`` will, against the first file's columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from ..ingest.table import match_key
from . import roles
from .answers import Answers, draft_answers, vocabulary
from .survey import Column, Survey, read_survey

PLATFORMS = {"qualtrics": "Qualtrics", "surveymonkey": "SurveyMonkey", "wenjuanxing": "问卷星",
             "limesurvey": "LimeSurvey", "google_forms": "Google Forms"}


@dataclass
class Draft:
    survey: Survey
    items: list[roles.Item]
    answers: Answers
    respondent_id: Column | None = None
    email_id: bool = False
    wave: Column | None = None
    timestamps: list[Column] = field(default_factory=list)
    segments: list[Column] = field(default_factory=list)
    overall: Column | None = None
    unpaired: list[Column] = field(default_factory=list)  # answer columns in no item
    standard: bool = False  # 22 items: the SERVQUAL dimensions

    def reference(self, column: Column) -> str | int:
        """How the instrument names a column: by name when the header names it once, else
        by position (1-based)."""
        key = match_key(column.name)
        same = [c for c in self.survey.columns if match_key(c.name) == key]
        return column.name if column.name.strip() and len(same) == 1 else column.position + 1

    def found(self) -> list[str]:
        """What was found, a line each, for the terminal."""
        s, a = self.survey, self.answers
        lines = [f"file: {s.path} ({s.kind}, {s.encoding or 'binary'}, {s.rows:,} rows)",
                 f"platform: {PLATFORMS.get(s.platform, 'not recognised')}; header rows: "
                 f"{s.header_rows}" + (f" (names in row {s.names_row})" if s.names_row > 1
                                       else "")
                 + (f"; title rows skipped: {s.skip_rows}" if s.skip_rows else "")]
        ident = self.respondent_id.name if self.respondent_id else "none (row numbers)"
        lines.append(f"respondent id: {ident}" + (" (e-mail: the last submission of each "
                                                   "address is kept)" if self.email_id else ""))
        if self.wave is not None:
            lines.append(f"wave column: {self.wave.name}")
        if self.timestamps:
            lines.append("timestamps (not used): " + ", ".join(c.name for c in self.timestamps))
        how = sorted({i.how for i in self.items})
        importance = sum("importance" in i.columns for i in self.items)
        alone = sum("expectation" not in i.columns for i in self.items)
        lines.append(f"items: {len(self.items)} expectation–perception pairs (by "
                     f"{', '.join(how)})" + (f", {importance} with importance" if importance
                                              else "") + (
            f", {alone} with a perception only (SERVPERF)" if alone else ""))
        lines.append("dimensions: the five SERVQUAL dimensions (22 items in the published "
                     "order)" if self.standard else "dimensions: one, 'service' (TODO: assign "
                     "the items to dimensions)")
        lines.append(f"scale: {a.scale_min}–{a.scale_max}" + (
            f"; missing codes: {', '.join(f'{v:g}' for v in a.missing_numbers)}"
            if a.missing_numbers else ""))
        if a.pattern:
            lines.append(f"answer texts read by the pattern {a.pattern!r}")
        if a.labels:
            lines.append(f"answer texts: {len(a.labels)} labels ({a.label_set})")
        if a.missing_texts:
            lines.append("texts meaning no answer: " + ", ".join(a.missing_texts))
        if self.segments:
            lines.append("segments: " + ", ".join(c.name for c in self.segments))
        if self.overall is not None:
            lines.append(f"overall satisfaction: {self.overall.name}")
        todo = len(a.unknown) + len(self.unpaired) + (0 if self.standard else 1)
        if todo:
            lines.append(f"TODO: {todo} decision(s) left to you, marked TODO in the draft")
        return lines


def draft(paths: list[Path]) -> Draft:
    """Draft an instrument from the first file's layout and every file's answers."""
    surveys = [read_survey(Path(p)) for p in paths]
    survey = surveys[0]
    columns = survey.columns
    taken: set[int] = set()
    ident, email = roles.find_id(columns)
    wave = roles.find_named(columns, roles.WAVE_NAMES)
    timestamps = [c for c in columns if match_key(c.name) in roles.TIME_NAMES]
    for column in [ident, wave, *timestamps]:
        if column is not None:
            taken.add(column.position)
    answer_columns = [c for c in columns if c.position not in taken
                      and roles.is_answer_column(c)]
    items = roles.find_items(columns, answer_columns)
    if not items:
        raise DataError("found no expectation–perception pairs: name the columns E01/P01 "
                        "(or 期望1/感知1; P01 alone for perceptions only), or write the "
                        "instrument by hand (README, \"The "
                        "instrument file\"); answer-like columns seen: "
                        + (", ".join(c.name or f"#{c.position + 1}" for c in answer_columns[:8])
                           or "none"), file=survey.path)
    in_items = {c.position for i in items for c in i.columns.values()}
    taken |= in_items
    overall = roles.find_overall(columns, taken)
    if overall is not None:
        taken.add(overall.position)
    unpaired = [c for c in answer_columns if c.position not in taken]
    taken |= {c.position for c in unpaired}
    segments = roles.segment_candidates(columns, taken)
    numbers, texts = [], []
    positions = [c.position for i in items for c in i.columns.values()]
    for each in surveys:
        for position in positions:
            if position < len(each.columns):
                numbers += each.columns[position].numbers.tolist()
                texts += each.columns[position].texts
    answers = draft_answers(numbers, texts)
    standard = len(items) == sum(d["items"] for d in vocabulary()["servqual"])
    return Draft(survey=survey, items=items, answers=answers, respondent_id=ident,
                 email_id=email, wave=wave, timestamps=timestamps, segments=segments,
                 overall=overall, unpaired=unpaired, standard=standard)
