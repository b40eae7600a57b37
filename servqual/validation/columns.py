"""Columns: finding the instrument's columns in a file, and checking its header.

A column is found by its exact name, else by its name compared without regard to case,
Unicode width and runs of whitespace (:func:`servqual.ingest.table.match_key`). The header
must fit ``header_rows``: no answers in a header row, no header row among the data.
"""

from __future__ import annotations

import difflib
from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pyarrow as pa

from ..celltext import is_number, quoted
from ..errors import DataError
from ..ingest import RawTable
from ..ingest.table import match_key
from ..instrument import Instrument
from .cells import numeric_column

# Rows read to tell whether the file's header fits header_rows.
_HEADER_LOOKAHEAD = 20


def answer_columns(instrument: Instrument) -> list[str]:
    """The answer columns: per item and battery (wide), or one per battery (long)."""
    if instrument.long is not None:
        long = instrument.long
        # "" for a battery not asked (no expectation: SERVPERF): its answers are all missing
        return [long.expectation, long.perception] + ([long.adequate] if long.adequate else [])
    batteries = ["expectation", "perception"] + (["adequate"] if instrument.has_adequate else [])
    return [getattr(i, b) for b in batteries for i in instrument.items]


def resolve_columns(raw: RawTable, instrument: Instrument) -> pd.DataFrame:
    """The table with each column the instrument names found, under the instrument's name.

    A column is found by its exact name, else by its name compared without regard to case,
    Unicode width and runs of whitespace (long question texts wrap differently in every
    export). A missing column is an error naming the closest existing one.
    """
    frame, path = raw.frame, raw.path
    names = [str(c) for c in frame.columns]
    named_at = _names_row(raw, instrument)
    exact = Counter(names)
    by_key: dict[str, list[int]] = defaultdict(list)
    for position, name in enumerate(names):
        by_key[match_key(name)].append(position)
    # An outcome of [outcomes.*] may be missing from a file (a question added in a later
    # wave): its respondents count as not answering it (absent_outcomes). Every other column
    # is required.
    wanted = [(c, k, not k.startswith("outcomes.")) for c, k in instrument.required_columns()]
    if instrument.settings.wave:  # optional: the file name stem names the wave without it
        wanted.append((instrument.settings.wave, "instrument.wave", False))
    renames: dict[int, str] = {}
    missing: list[tuple[str, str]] = []
    positions = instrument.column_positions
    for column, key, _ in wanted:
        if column in positions:  # given by position: "#12" is the file's 12th column
            if positions[column] >= len(names):
                raise DataError(f"{_role(key, instrument)} is column {positions[column] + 1} "
                                f"of the file, which has {len(names)} columns", file=path,
                                row=named_at, column=column, key=key)
            renames[positions[column]] = column
    for column, key, required in wanted:
        if column in positions:
            continue
        if exact[column] == 1:
            if names.index(column) in renames:
                raise DataError(f"column {names.index(column) + 1} is named by {key} and given "
                                "by position by another key", file=path, row=named_at,
                                column=column, key=key)
            continue
        hits = [names[p] for p in by_key.get(match_key(column), [])]
        if exact[column] > 1 or len(hits) > 1:
            raise DataError("the header names this column more than once; which one holds the "
                            "answers is ambiguous", file=path, row=named_at, column=column)
        if hits:
            if by_key[match_key(column)][0] in renames:
                raise DataError(f"column {by_key[match_key(column)][0] + 1} is named by {key} "
                                "and given by position by another key", file=path,
                                row=named_at, column=column, key=key)
            renames[by_key[match_key(column)][0]] = column
        elif required:
            missing.append((column, key))
    if missing:
        raise missing_columns(raw, names, missing, len([w for w in wanted if w[2]]), instrument)
    if renames:
        frame = frame.set_axis([renames.get(p, n) for p, n in enumerate(names)], axis=1)
    _single_values(frame, [c for c, _, _ in wanted], path)
    return frame


def _single_values(frame: pd.DataFrame, columns: list[str], path) -> None:
    """A column the instrument reads must hold one value per cell: a Parquet column of
    lists, records or maps (a multiple-choice export) is an error naming it."""
    for column in columns:
        if column not in frame.columns:
            continue
        dtype = frame[column].dtype
        kind = getattr(dtype, "pyarrow_dtype", None)
        if kind is not None and pa.types.is_nested(kind):
            raise DataError(f"the column holds {kind} values, not one answer or label per "
                            "cell; export it as single values", file=path, column=column)


def absent_outcomes(columns: list[str], instrument: Instrument) -> list[str]:
    """The outcomes (keys of ``[outcomes.*]``) whose column is not among a file's resolved
    ``columns`` (:func:`resolve_columns`): the file's respondents count as not answering them,
    and the file's accounting names them (``outcomes_absent``)."""
    present = set(columns)
    return [o.key for o in instrument.survey_outcomes if o.column not in present]


def outcome_in_no_file(files: list[dict], columns: dict[str, list[str]],
                       instrument: Instrument) -> DataError | None:
    """The error of an outcome whose column none of the run's files has (``files``: their
    accounting records, with ``outcomes_absent``; ``columns``: each file's header): a
    misspelt column rather than a question added later. None when every outcome is found in
    some file."""
    records = [f for f in files if "outcomes_absent" in f]
    for outcome in instrument.survey_outcomes:
        if not records or any(outcome.key not in f["outcomes_absent"] for f in records):
            continue
        path = records[0]["file"]
        close = closest_names(outcome.column, [str(n) for n in columns.get(path, [])])
        hint = f"; closest: {', '.join(quoted(c) for c in close)}" if close else ""
        where = "the file" if len(records) == 1 else f"any of the {len(records)} files"
        return DataError(f"the column {quoted(outcome.column)} of [outcomes.{outcome.key}] is "
                         f"not in {where}{hint}. A question added in a later wave may be "
                         "missing from the earlier files, but not from all of them",
                         file=path if len(records) == 1 else None, column=outcome.column,
                         key=f"outcomes.{outcome.key}.column")
    return None


_SHOWN = 3  # missing columns named in the message


def _names_row(raw: RawTable, instrument: Instrument) -> int | None:
    """The spreadsheet row that names the columns (``names_row`` of the header rows)."""
    if raw.header_row is None:
        return None
    return raw.header_row + (instrument.settings.names_row - 1 if len(raw.header) else 0)


def missing_columns(raw: RawTable, names: list[str], missing: list[tuple[str, str]],
                    required: int, instrument: Instrument) -> DataError:
    """The error of columns the instrument names that the file lacks: how many, the first few
    with what they are and their closest existing names, and what to check when the header
    itself looks wrong (another header row, an encoding, a delimiter)."""
    shown = []
    for column, key in missing[:_SHOWN]:
        close = closest_names(column, names)
        hint = f"; closest: {', '.join(quoted(c) for c in close)}" if close else ""
        shown.append(f"{quoted(column)} ({_role(key, instrument)}{hint})")
    more = f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
    count = (f"{len(missing)} of the {required} columns the instrument names are"
             if len(missing) > 1 else "a column the instrument names is")
    message = f"{count} not in the file: {'; '.join(shown)}{more}"
    advice = _title_advice(raw, [c for c, _ in missing]) or _header_advice(
        names, len(missing), required)
    named_at = _names_row(raw, instrument)
    return DataError(message + (f". {advice[0].upper()}{advice[1:]}" if advice else ""),
                     file=raw.path, row=named_at, column=missing[0][0], key=missing[0][1])


def closest_names(column: str, names: list[str]) -> list[str]:
    """Up to two existing names closest to ``column``, compared as the matching compares
    (case, width and blanks aside)."""
    keys = {}
    for name in names:
        keys.setdefault(match_key(name), name)
    return [keys[k] for k in difflib.get_close_matches(match_key(column), list(keys), n=2,
                                                       cutoff=0.6)]


def _role(key: str, instrument: Instrument) -> str:
    """An instrument key in words: ``items[0].expectation`` is item q01's expectation."""
    if key.startswith("items["):
        n, role = int(key[6:key.index("]")]), key.rsplit(".", 1)[-1]
        return f"the {role} of item {instrument.items[n].id}, {key}"
    return key


def _title_advice(raw: RawTable, missing: list[str]) -> str:
    """Where the column names are when a title row stands above them (a report title in
    the first line of an export): the first records after the header that hold most of the
    ``missing`` names, and the ``skip_rows`` that reads them as the header."""
    if raw.header_row is None or len(missing) < 2:
        return ""
    found = []
    if raw.unparseable is not None and len(raw.unparseable):
        found += zip(raw.unparseable["source_row"][:3], raw.unparseable["text"][:3])
    found += [(raw.source_rows[i], " ".join(str(v) for v in raw.frame.iloc[i].tolist()))
              for i in range(min(3, len(raw.frame)))]
    for row, text in sorted(found, key=lambda f: int(f[0])):
        key = match_key(str(text))
        if sum(match_key(c) in key for c in missing) * 2 >= len(missing):
            return (f"the column names seem to be on row {int(row)}, below a title: set "
                    f"skip_rows = {int(row) - raw.header_row} in [instrument]")
    return ""


def _header_advice(names: list[str], missing: int, required: int) -> str:
    """What to check when the header row itself looks wrong, or nothing."""
    if missing < max(2, required // 2):
        return ""
    if len(names) == 1:
        return ("the header has a single column: the delimiter may be one the file does not "
                "use, or the file is not delimited text")
    if any("\ufffd" in n or "锟斤拷" in n or _mojibake(n) for n in names):
        return ("the header's text looks mis-decoded: set encoding in [instrument] to the "
                "file's encoding (e.g. gb18030, utf-8, cp949)")
    numeric = sum(is_number(n) for n in names)
    blank = sum(not n.strip() or n.startswith("(column ") for n in names)
    if numeric >= len(names) // 2:
        return ("the header row holds numbers, like answers: the file may have no header row "
                "there, or fewer header rows than header_rows says")
    if blank >= len(names) // 2:
        return ("most header cells are blank: a title row may stand above the header; check "
                "header_rows and where the column names are")
    return ("most of the instrument's columns are missing: check that the file is the survey "
            "the instrument describes, and header_rows (the row that names the columns)")


def _mojibake(name: str) -> bool:
    """UTF-8 text read as Latin-1 or cp1252 ("Ã©", "å¼"): two such characters in a row."""
    return sum(1 for a, b in zip(name, name[1:])
               if a in "ÃÂÅÆÇÈÉÊËÌÍÎÏÐåæçèéêë" and "\x80" <= b <= "\xbf") >= 2



def check_header(raw: RawTable, frame: pd.DataFrame, answer_columns: list[str],
                 instrument: Instrument) -> None:
    """The header must fit ``header_rows``: no answers in a header row, no header in the data.

    A header row that holds numbers in every answered answer column means the file has fewer
    header rows than the instrument says (its data would be skipped); leading data rows with
    text in every answer column, before rows with numbers, mean it has more (a Qualtrics
    export read with ``header_rows = 1``). Either is an error suggesting the right number.
    """
    if raw.continued:
        return
    answer_columns = [c for c in answer_columns if c]  # "": an item without that battery
    declared = instrument.settings.header_rows
    header = raw.header.set_axis(frame.columns, axis=1) if len(raw.header) else raw.header
    for i in range(len(header)):
        cells = header.iloc[[i]]
        values, text = _parsed(cells, answer_columns)
        if not text.any() and not np.isnan(values).all():
            column = answer_columns[int(np.argmax(~np.isnan(values[0])))]
            number = i + 1 if i + 1 < instrument.settings.names_row else i + 2  # 1-based
            raise DataError(
                f"this is header row {number} of header_rows = {declared}, but it holds answers "
                f"(column {column!r}: {quoted(cells[column].iloc[0])}); the file seems to have "
                f"{number - 1} header row(s): set header_rows = {number - 1}",
                file=raw.path, row=raw.header_row + number - 1, key="instrument.header_rows")
    head = frame.head(_HEADER_LOOKAHEAD)
    if len(answer_columns) < 2 or not len(head):
        return
    values, text = _parsed(head, answer_columns)
    textual = text.all(axis=1)
    leading = int(np.argmin(textual)) if not textual.all() else len(textual)
    if 0 < leading < len(textual) and (~np.isnan(values[leading:])).any():
        column = answer_columns[0]
        raise DataError(
            f"this row looks like another header row, not answers (column {column!r}: "
            f"{quoted(head[column].iloc[0])}); the file seems to have {declared + leading} header "
            f"rows: set header_rows = {declared + leading}",
            file=raw.path, row=int(raw.source_rows[0]), key="instrument.header_rows")


def _parsed(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Numbers (NaN when blank or text) and a mask of text cells, one column per column."""
    parsed = [numeric_column(frame[c]) for c in columns]
    return (np.column_stack([v for v, _ in parsed]), np.column_stack([b for _, b in parsed]))
