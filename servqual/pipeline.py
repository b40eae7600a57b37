"""The run: ingest → validate → compute, into one :class:`~servqual.results.Results`.

The CLI and the tests call :func:`analyse`; rendering and writing are separate steps, so a
run that fails has produced nothing on disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataError, UsageError
from .ingest import RawTable, read_table
from .instrument import Instrument
from .results import Results
from .findings import Target, find, load_complaints
from .stats.aggregate import aggregate
from .stats.tables import build_tables
from .stats.trends import build_trends
from .strategy import StrategyBook, load_strategies, recommend
from .validate import Validated, validate
from .value_segments import derive_value_segment
from .waves import sort_waves


def unique_paths(paths: Iterable[str | Path]) -> list[Path]:
    """The input files, each once (the same file named twice would double-count it)."""
    seen: dict[Path, Path] = {}
    for p in paths:
        path = Path(p)
        key = path.resolve() if path.exists() else path
        if key in seen:
            raise UsageError(f"{path} is given more than once")
        seen[key] = path
    if not seen:
        raise UsageError("no survey files given")
    return list(seen.values())


def read_all(paths: list[Path], instrument: Instrument) -> Iterator[RawTable]:
    for path in paths:
        yield read_table(path, instrument)


def ingest_and_validate(paths: Iterable[str | Path], instrument: Instrument) -> Validated:
    return validate(read_all(unique_paths(paths), instrument), instrument)


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


def compute(validated: Validated, instrument: Instrument, inputs: list[str] | None = None,
            extra: RunInputs | None = None) -> Results:
    """Statistics, trends, findings and recommendations of validated responses."""
    extra = extra or RunInputs()
    responses = validated.responses
    if len(responses) == 0:
        raise DataError("no valid responses to analyse: every row was quarantined "
                        f"({_reasons(validated)})")
    config = instrument.analysis
    waves = sort_waves(responses.meta["wave"].astype(str).unique())
    responses = derive_value_segment(responses, instrument)
    aggregates = aggregate(responses, instrument)
    tables = build_tables(aggregates, instrument, waves)
    trends = build_trends(tables, waves, config)
    complaints = None
    if extra.complaints is not None:
        if extra.categories is None:
            raise UsageError("complaints need a category mapping (--categories)")
        complaints = load_complaints(extra.complaints, extra.categories, instrument, waves)
    benchmark = config.benchmark_segment if extra.benchmark is None else extra.benchmark
    if benchmark and benchmark not in instrument.segments:
        raise UsageError(f"--benchmark {benchmark!r} is not a segment column of the instrument "
                         f"({', '.join(instrument.segments) or 'none'})")
    results = Results.build(instrument=instrument, waves=waves, quality=validated.quality,
                            aggregates=aggregates, tables=tables, inputs=inputs or [])
    results.findings = find(
        tables=tables, aggregates=aggregates, waves=waves, instrument=instrument, trends=trends,
        segments=results.segments, segment_tests=results.segment_tests, targets=extra.targets,
        complaints=complaints, peers=extra.peers, benchmark_column=benchmark)
    book = extra.strategies or load_strategies(None, instrument)
    results.recommendations = [recommend(p, book, instrument, config)
                               for p in results.findings.weak_points]
    results.strategy_book = book
    return results


def _reasons(validated: Validated) -> str:
    reasons = {k: v for k, v in validated.quality.quarantine_reasons.items() if v}
    return ", ".join(f"{k}: {v}" for k, v in reasons.items()) or "no rows"
