"""Engines: where the rows of the survey files live while they are validated and aggregated.

An engine decides where rows live, never what is computed: every engine runs the same
validation (:mod:`servqual.validation`) and hands the valid respondents, as Arrow record
batches or :class:`~servqual.responses.Responses`, to the same accumulators
(:mod:`servqual.stats.aggregate`), and returns the same :class:`~servqual.models.Collected`.

* ``memory`` (:mod:`.parts`): a file at a time in this process; the fastest for files that
  fit in memory.
* ``duckdb`` (:mod:`.duckdb`): the validated rows in a DuckDB table that spills to disk, so a
  file of any size fits; also what the history store ingests through.
* ``dask`` (:mod:`.dask`): the files' parts on the workers of a Dask cluster.

Light on imports: the command line checks its inputs with this module before the rest of
servqual loads.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UsageError
from ..quarantine import is_quarantine_file

if TYPE_CHECKING:
    from ..instrument import Instrument

ENGINES = ("auto", "memory", "duckdb", "dask")
# A file from this size on is read by the DuckDB engine, whose memory stays bounded: in
# memory, a file takes about 11 times its size in CSV at its peak (1.8 GB for 150 MB, 1,000,000
# respondents; benchmarks/bench_scale.py).
DUCKDB_FROM_BYTES = 512 << 20


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


def survey_paths(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """The survey files among the inputs, each once, and the inputs left out: quarantine
    files servqual wrote (``servqual validate`` puts ``<wave>.rejected.csv`` beside each
    input, where a glob such as ``surveys/*.csv`` picks it up again)."""
    paths = unique_paths(paths)
    skipped = [p for p in paths if is_quarantine_file(p)]
    if skipped and len(skipped) == len(paths):
        raise UsageError("no survey files given: " + ", ".join(map(str, skipped)) +
                         " hold rejected rows written by servqual (quarantine files), not "
                         "survey responses")
    return [p for p in paths if p not in skipped], skipped


def reads_together(instrument: Instrument) -> bool:
    """Whether each wave's respondents must be judged all at once (a long layout; value
    segments split at each wave's medians): then only the memory engine reads the files."""
    classes = instrument.customer_classes
    return instrument.long is not None or (classes is not None and classes.derived)


def choose_engine(paths: list[Path], engine: str = "auto", instrument: Instrument | None = None
                  ) -> str:
    """``memory``, ``duckdb`` or ``dask`` for these files: as asked, or by the size of the
    largest."""
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine!r}: use one of {', '.join(ENGINES)}")
    together = instrument is not None and reads_together(instrument)
    if engine != "auto":
        if together and engine != "memory":
            raise UsageError(f"--engine {engine}: this instrument's respondents are judged a "
                             "wave at a time in memory (a long layout, or value segments); "
                             "use --engine memory")
        return engine
    if together:
        return "memory"
    largest = max((p.stat().st_size for p in paths if p.is_file()), default=0)
    return "duckdb" if largest >= DUCKDB_FROM_BYTES else "memory"


def open_engine(name: str, instrument: Instrument, *, split_by: str | None = None,
                progress=None, scheduler: str | None = None):
    """The engine ``name`` (as :func:`choose_engine` gives it), to use as a context manager."""
    if name == "duckdb":
        from .duckdb import DuckDBEngine

        return DuckDBEngine(instrument, progress=progress, split_by=split_by)
    if name == "dask":
        from .dask import DaskEngine

        return DaskEngine(instrument, split_by=split_by, scheduler=scheduler)
    from .parts import PartsEngine

    return PartsEngine(instrument, split_by=split_by)
