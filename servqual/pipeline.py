"""The run: ingest → validate → compute, into one :class:`~servqual.results.Results`.

The CLI and the tests call :func:`analyse`; rendering and writing are separate steps, so a
run that fails has produced nothing on disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import DataError, UsageError
from .ingest import RawTable, read_table
from .instrument import Instrument
from .results import Results
from .stats.aggregate import aggregate
from .stats.tables import build_tables
from .validate import Validated, validate
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


def analyse(paths: Iterable[str | Path], instrument: Instrument) -> tuple[Results, Validated]:
    """Read, validate and compute everything for a set of survey files."""
    paths = unique_paths(paths)
    validated = validate(read_all(paths, instrument), instrument)
    results = compute(validated, instrument, inputs=[str(p) for p in paths])
    return results, validated


def compute(validated: Validated, instrument: Instrument, inputs: list[str] | None = None
            ) -> Results:
    """Statistics of validated responses: aggregates, then every table of the results."""
    responses = validated.responses
    if len(responses) == 0:
        raise DataError("no valid responses to analyse: every row was quarantined "
                        f"({_reasons(validated)})")
    waves = sort_waves(responses.meta["wave"].astype(str).unique())
    aggregates = aggregate(responses, instrument)
    return Results.build(instrument=instrument, waves=waves, quality=validated.quality,
                         aggregates=aggregates,
                         tables=build_tables(aggregates, instrument, waves), inputs=inputs or [])


def _reasons(validated: Validated) -> str:
    reasons = {k: v for k, v in validated.quality.quarantine_reasons.items() if v}
    return ", ".join(f"{k}: {v}" for k, v in reasons.items()) or "no rows"
