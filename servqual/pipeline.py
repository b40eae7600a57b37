"""The run: ingest → validate → compute, into one :class:`~servqual.results.Results`.

The CLI and the tests call :func:`analyse`; rendering and writing are separate steps, so a
run that fails has produced nothing on disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import engines
from .engines import ahead_for, choose_engine, duckdb_can_read, read_ahead, unique_paths
from .errors import DataError, UsageError
from .ingest import RawTable, read_table
from .instrument import Instrument
from .results import Results
from .findings import Target, find, load_complaints
from .stats.aggregate import Aggregates, aggregate
from .stats.tables import build_tables
from .responses import SOURCE
from .stats.trends import build_trends
from .strategy import StrategyBook, load_strategies, recommend
from .validate import (DataQuality, Validated, count_missing, merge_quality, straightlining,
                       validate)
from .waves import sort_waves


def read_all(paths: list[Path], instrument: Instrument) -> Iterator[RawTable]:
    for path in paths:
        yield read_table(path, instrument)


def _waves_in(column: pd.Series) -> set[str]:
    """The wave labels a column holds, as text; blanks are no wave. The distinct values are
    found first (on a categorical column, from its codes): turning every cell to text first
    took 85 ms per 1,000,000-row file."""
    return {str(label) for label in column.unique() if not pd.isna(label)}


def ingest_and_validate(paths: Iterable[str | Path], instrument: Instrument) -> Validated:
    return validate(read_all(unique_paths(paths), instrument), instrument)


# --------------------------------------------------------------------------------------------
# Reading in memory or out of core with DuckDB (servqual.engines chooses)

def read_files(paths: Iterable[str | Path], instrument: Instrument, *, engine: str = "auto",
               progress=None, tables: Iterable[RawTable] | None = None,
               keep_responses: bool = False):
    """Validate and aggregate survey files: ``(Aggregated, checked)`` where ``checked`` has
    the quarantine and ``quarantine_of(file)`` (:class:`servqual.validate.Validated` in
    memory, :class:`servqual.outofcore.Checked` with DuckDB).

    ``tables`` (in memory only) are the files already being read, e.g. with a progress bar
    or ahead (:func:`servqual.engines.read_ahead`; the caller closes them, and they are
    closed here when the files must be read again together). In memory, files
    are aggregated one at a time (:func:`stream_files`), the next read ahead, unless
    ``keep_responses`` asks for every respondent in ``checked.responses``.
    """
    paths = unique_paths(paths)
    chosen = choose_engine(paths, engine, instrument)
    if chosen == "memory":
        if not keep_responses:
            with (read_ahead(read_all(paths, instrument), ahead_for(paths)) if tables is None
                  else nullcontext(tables)) as files:
                streamed = stream_files(files, instrument)
            if streamed is not None:
                return streamed
            if hasattr(tables, "close"):
                tables.close()  # they are read again below: no file held or read ahead
            # Two files hold the same wave: their respondents are compared for duplicates
            # across files, which needs them together (DuckDB for large inputs).
            if engine == "auto" and duckdb_can_read(instrument) and \
                    sum(p.stat().st_size for p in paths) >= engines.DUCKDB_FROM_BYTES:
                return _read_with_duckdb(paths, instrument, progress)
            tables = None  # read again below, all together
        validated = validate(tables if tables is not None else read_all(paths, instrument),
                             instrument)
        return aggregated(validated, instrument), validated
    return _read_with_duckdb(paths, instrument, progress)


def _read_with_duckdb(paths: list[Path], instrument: Instrument, progress):
    from .outofcore import check_and_aggregate

    checked, aggregates, waves = check_and_aggregate(paths, instrument, progress=progress)
    if not waves:
        raise no_valid_responses(checked.quality)
    return Aggregated(aggregates, checked.quality, waves), checked


def stream_files(tables: Iterable[RawTable], instrument: Instrument):
    """The in-memory path a file at a time: each file is validated and aggregated, then its
    respondents are let go, so memory holds one file, not all of them. ``(Aggregated,
    Validated)`` as :func:`read_files` returns them, with no responses kept; ``None`` as soon
    as a file holds a wave an earlier file held too (duplicates across the files of a wave
    need their respondents together: the caller reads the files jointly instead).

    The same verdicts, quarantine and row accounting as :func:`servqual.validate.validate`
    over all the files: with no wave in two files there is nothing to compare across files.
    """
    parts: list[Aggregates] = []
    quarantines: list[pd.DataFrame] = []
    quality = DataQuality()
    columns: dict[str, list[str]] = {}
    seen: set[str] = set()
    none = None  # no respondents, in the instrument's layout
    for raw in tables:
        one = validate([raw], instrument)
        del raw
        waves = _waves_in(one.responses.meta["wave"])
        if waves & seen:
            return None
        seen |= waves
        columns.update(one.columns)
        quarantines.append(one.quarantine)
        merge_quality(quality, one.quality)
        if len(one.responses):
            parts.append(aggregate(one.responses, instrument))
        none = one.responses.take(np.zeros(len(one.responses), dtype=bool))
        del one
    if not parts:
        raise no_valid_responses(quality)
    quarantine = pd.concat(quarantines, ignore_index=True)
    kept = Validated(responses=none, quarantine=quarantine,
                     quality=quality, columns=columns)
    return Aggregated(Aggregates.concat(parts), quality, sort_waves(seen)), kept


def combine(parts: list[Aggregated]) -> Aggregated:
    """Aggregates of disjoint waves (files and the history store), as one; the row
    accounting lists the parts in the order of their first wave."""
    if len(parts) == 1:
        return parts[0]
    order = {w: n for n, w in enumerate(sort_waves([w for p in parts for w in p.waves]))}
    parts = sorted(parts, key=lambda p: min((order[w] for w in p.waves), default=len(order)))
    quality = DataQuality()
    for part in parts:
        merge_quality(quality, part.quality)
    return Aggregated(Aggregates.concat([p.aggregates for p in parts]), quality,
                      sort_waves([w for p in parts for w in p.waves]))


def analyse(paths: Iterable[str | Path], instrument: Instrument, extra: RunInputs | None = None
            ) -> tuple[Results, Validated]:
    """Read, validate and compute everything for a set of survey files."""
    paths = unique_paths(paths)
    validated = validate(read_all(paths, instrument), instrument)
    results = compute(validated, instrument, inputs=[str(p) for p in paths], extra=extra)
    return results, validated


@dataclass
class RunInputs:
    """What a run may be given beyond the survey files (all optional)."""

    targets: list[Target] = field(default_factory=list)
    complaints: Path | None = None
    categories: dict[str, str] | None = None
    peers: tuple[str, dict[str, float]] | None = None
    strategies: StrategyBook | None = None
    benchmark: str | None = None  # segment column; None: the instrument's benchmark_segment


@dataclass
class Aggregated:
    """What the statistics need from the survey files: their aggregates and row accounting.

    Both ways of reading the files produce it: the in-memory path (:func:`aggregated`, from
    validated responses) and the out-of-core path (:mod:`servqual.outofcore`, DuckDB over
    the files); the history store (:mod:`servqual.store`) keeps it per wave. Everything from
    here on (:func:`compute_aggregated`) is the same whichever produced it.
    """

    aggregates: Aggregates
    quality: DataQuality
    waves: list[str]


def aggregated(validated: Validated, instrument: Instrument) -> Aggregated:
    """The aggregates of validated responses (the in-memory path)."""
    responses = validated.responses
    if len(responses) == 0:
        raise no_valid_responses(validated.quality)
    waves = sort_waves(_waves_in(responses.meta["wave"]))
    return Aggregated(aggregate(responses, instrument), validated.quality, waves)


def compute(validated: Validated, instrument: Instrument, inputs: list[str] | None = None,
            extra: RunInputs | None = None) -> Results:
    """Statistics, trends, findings and recommendations of validated responses."""
    return compute_aggregated(aggregated(validated, instrument), instrument, inputs, extra)


def compute_aggregated(data: Aggregated, instrument: Instrument,
                       inputs: list[str] | None = None, extra: RunInputs | None = None
                       ) -> Results:
    """Statistics, trends, findings and recommendations from aggregates.

    The one path from aggregates onward, whether they come from files read in memory, from
    DuckDB over large files, from the history store, or from several of these combined
    (:meth:`Aggregates.concat`).
    """
    extra = extra or RunInputs()
    if not data.waves:
        raise no_valid_responses(data.quality)
    config = instrument.analysis
    waves = sort_waves(data.waves)
    aggregates = data.aggregates
    tables = build_tables(aggregates, instrument, waves)
    trends = build_trends(tables, waves, config)
    complaints = None
    if extra.complaints is not None:
        if extra.categories is None:
            raise UsageError("complaints need a category mapping (--categories)")
        complaints = load_complaints(extra.complaints, extra.categories, instrument, waves)
    benchmark = config.benchmark_segment if extra.benchmark is None else extra.benchmark
    if benchmark and benchmark not in instrument.analysis_segments:
        raise UsageError(f"--benchmark {benchmark!r} is not a segment column of the instrument "
                         f"({', '.join(instrument.analysis_segments) or 'none'})")
    results = Results.build(instrument=instrument, waves=waves, quality=data.quality,
                            aggregates=aggregates, tables=tables, inputs=inputs or [])
    results.findings = find(
        tables=tables, aggregates=aggregates, waves=waves, instrument=instrument, trends=trends,
        segments=results.segments, segment_tests=results.segment_tests, targets=extra.targets,
        complaints=complaints, peers=extra.peers, benchmark_column=benchmark)
    book = extra.strategies or load_strategies(None, instrument)
    weak = results.findings.weak_points
    dimension_priority = {p.id: p.priority for p in weak if p.kind == "dimension"}
    results.recommendations = [recommend(p, book, instrument, config, dimension_priority)
                               for p in weak]
    results.strategy_book = book
    return results


def split(validated: Validated, column: str, instrument: Instrument) -> list[tuple[str, Validated]]:
    """The validated responses of each value of a segment column (``--split-by``): one unit
    per value, in sorted order, each with its own row accounting. Rows without a value
    belong to no unit (they stay in the overall results)."""
    if column not in instrument.analysis_segments:
        raise UsageError(f"--split-by {column!r} is not a segment column of the instrument "
                         f"({', '.join(instrument.analysis_segments) or 'it names none'})")
    meta = validated.responses.meta
    labels = meta[column].astype("string")
    quarantine = validated.quarantine
    rejected_labels = (quarantine[column].astype("string") if column in quarantine.columns
                       else pd.Series(pd.NA, index=quarantine.index, dtype="string"))
    units = []
    for value in sorted(labels.dropna().unique()):
        mask = (labels == value).fillna(False).to_numpy()
        responses = validated.responses.take(mask)
        rejected = quarantine[(rejected_labels == value).fillna(False).to_numpy()]
        units.append((str(value), Validated(responses=responses, quarantine=rejected,
                                            quality=_unit_quality(responses, rejected),
                                            columns=validated.columns)))
    return units


def _unit_quality(responses, rejected: pd.DataFrame) -> DataQuality:
    """Row accounting of one unit: its valid rows and the quarantined rows that name it."""
    quality = DataQuality(rows_valid=len(responses), answers_missing=count_missing(responses),
                          straightlining=int(straightlining(responses).sum()))
    quality.add_rejected(rejected["reason"].astype(str))
    quality.rows_read = quality.rows_valid + quality.rows_quarantined
    valid_by_file = responses.meta[SOURCE].astype(str).value_counts()
    rejected_by_file = rejected[SOURCE].astype(str).value_counts()
    for file in sorted(set(valid_by_file.index) | set(rejected_by_file.index)):
        valid, bad = int(valid_by_file.get(file, 0)), int(rejected_by_file.get(file, 0))
        quality.files.append({"file": file, "rows_read": valid + bad, "rows_valid": valid,
                              "rows_quarantined": bad})
    quality.check()
    return quality


def no_valid_responses(quality: DataQuality) -> DataError:
    """The error of a run left with no respondent: it names the files read (the one file as
    the error's file) and the reasons their rows were quarantined."""
    files = [f["file"] for f in quality.files]
    where = f" in {', '.join(files)}" if len(files) > 1 else ""
    return DataError(f"no valid responses to analyse{where}: every row was quarantined "
                     f"({_reasons(quality)}); servqual validate writes each rejected row "
                     "with its reason", file=files[0] if len(files) == 1 else None)


def _reasons(quality: DataQuality) -> str:
    reasons = {k: v for k, v in quality.quarantine_reasons.items() if v}
    return ", ".join(f"{k}: {v}" for k, v in reasons.items()) or "no rows"
