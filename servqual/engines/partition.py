"""Partition: what a part is, and how the survey files are cut into parts.

A part is the unit of work of the memory and Dask engines (:mod:`.parts`): one survey file,
a run of row groups of a large Parquet file, a span of records of a large text file
(:mod:`servqual.ingest.spans`), or all the files as one where respondents must be judged
together (a long layout; value segments split at each wave's medians).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..ingest.parquet import PARQUET_SUFFIXES, row_group_rows
from ..ingest.spans import TextSpan, text_spans
from ..instrument import Instrument
from . import reads_together

# Row groups of a Parquet file are read together up to this many rows, a large text file this
# many records at a time (a part, which may run on a worker of a cluster; about the rows the
# memory engine aggregates most cheaply at once). SERVQUAL_PART_ROWS sets another size.
PART_ROWS = 1 << 20


@dataclass(frozen=True)
class Part:
    """Survey files read and checked together (usually one), row groups ``groups``
    (start, stop) of a Parquet file whose first row is row ``first_row`` of the file, or
    the records of a text file in ``span``."""

    index: int
    paths: tuple[str, ...]
    groups: tuple[int, int] | None = None
    first_row: int = 1
    span: TextSpan | None = None


def parts_of(paths: Iterable[str], instrument: Instrument) -> list[Part]:
    """One part per file, per run of row groups of a large Parquet file
    (:func:`row_group_parts`) and per span of a large text file
    (:func:`servqual.ingest.spans.text_spans`); or one for all where respondents must be
    judged together."""
    paths = [str(p) for p in paths]
    if reads_together(instrument):
        return [Part(0, tuple(paths))]
    parts: list[Part] = []
    for path in paths:
        spans = text_spans(path, instrument, part_rows())
        if spans:
            parts += [Part(len(parts) + n, (path,), first_row=s.first_row, span=s)
                      for n, s in enumerate(spans)]
            continue
        sizes = row_group_rows(path) if path.lower().endswith(PARQUET_SUFFIXES) else []
        runs = row_group_parts(sizes)
        if len(runs) < 2:
            parts.append(Part(len(parts), (path,)))
            continue
        parts += [Part(len(parts) + n, (path,), (start, stop), first_row)
                  for n, (start, stop, first_row) in enumerate(runs)]
    return parts


def row_group_parts(sizes: list[int]) -> list[tuple[int, int, int]]:
    """The parts of a Parquet file whose row groups hold ``sizes`` rows: consecutive row
    groups of at least :data:`PART_ROWS` rows together (the last part may hold fewer), each
    as (first group, group after the last, number of its first row in the file). A part
    has a fixed cost (about 0.1 s to aggregate and set up its quarantine), which small row
    groups would pay many times over."""
    least = part_rows()
    runs, start, rows, first = [], 0, 0, 1
    for group, size in enumerate(sizes):
        rows += size
        if rows >= least or group == len(sizes) - 1:
            runs.append((start, group + 1, first))
            start, first, rows = group + 1, first + rows, 0
    return runs


def part_rows() -> int:
    """The least rows of a part of a Parquet file, the records of a span of a text file:
    :data:`PART_ROWS`, or the environment's ``SERVQUAL_PART_ROWS`` (whole, at least 1)."""
    import os

    from ..errors import UsageError

    value = os.environ.get("SERVQUAL_PART_ROWS", "").strip()
    if not value:
        return PART_ROWS
    try:
        rows = int(value.replace("_", ""))
    except ValueError:
        rows = 0
    if rows < 1:
        raise UsageError(f"SERVQUAL_PART_ROWS={value!r} must be a whole number of rows, "
                         "at least 1 (the least rows of a part of a Parquet file)")
    return rows
