"""Engines: where the rows of the survey files live while they are validated and aggregated.

An engine decides where rows live, never what is computed: every engine runs the same
validation (:mod:`servqual.validation`) and hands the valid respondents, as Arrow record
batches or :class:`~servqual.responses.Responses`, to the same accumulators
(:mod:`servqual.stats.aggregate`), and returns the same :class:`~servqual.models.Collected`.

* ``memory`` (:mod:`.parts`): a file (or a run of its records) at a time in this process;
  the fastest.
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

from ..errors import DataError, InputFileError, UsageError
from ..quarantine import is_quarantine_file
from ..waves import check_wave_option

if TYPE_CHECKING:
    from ..instrument import Instrument

ENGINES = ("auto", "memory", "duckdb", "dask")
# A file from this size on is read by the DuckDB engine, whose memory stays bounded, unless
# the memory engine reads it a run of records at a time (UTF-8 text, records on one line
# each: servqual.ingest.spans): read whole, a file takes about 11 times its size in CSV at
# its peak (1.8 GB for 150 MB, 1,000,000 respondents; benchmarks/bench_scale.py).
DUCKDB_FROM_BYTES = 512 << 20


# The suffixes of Parquet files (servqual.ingest.parquet, not imported here: it loads pandas).
PARQUET_SUFFIXES = (".parquet", ".pq")


def dataset_files(directory: Path) -> list[Path]:
    """The files of a Parquet dataset, a directory given as input, in sorted order.

    Names starting with ``.`` or ``_`` are the writers' own (``_SUCCESS``, ``_metadata``)
    and servqual's quarantine files are its own output: both are left out. Anything else
    that is not a Parquet file is an error (it would otherwise be left unread), as is a
    directory holding no Parquet file.
    """
    files = []
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_file() and entry.suffix.lower() in PARQUET_SUFFIXES:
            files.append(entry)
        elif not (entry.is_file() and is_quarantine_file(entry)):
            raise InputFileError(f"is in the directory {directory}, which is read as a Parquet "
                                 "dataset, but is not a Parquet file (.parquet, .pq): give the "
                                 "survey files by name, or a directory of Parquet files only",
                                 file=entry)
    if not files:
        raise InputFileError("is a directory holding no Parquet file (.parquet, .pq): give "
                             "survey files, or a directory of Parquet files (a Parquet "
                             "dataset)", file=directory)
    return files


def check_dataset_waves(paths: Iterable[str | Path], instrument: Instrument) -> None:
    """The files of a Parquet dataset among the inputs must hold the wave column: their
    names are their writer's (``part.0.parquet``), and a file without a wave column takes
    its wave from its name."""
    directories = [Path(p) for p in paths if Path(p).is_dir()]
    if not directories:
        return
    import pyarrow.parquet as pq

    from ..ingest.table import match_key

    for directory in directories:
        wave = instrument.settings.wave
        for path in dataset_files(directory):
            try:
                names = pq.read_schema(path).names
            except (OSError, ValueError):  # not Parquet after all: its reader says why
                continue
            if not wave or match_key(wave) not in {match_key(str(n)) for n in names}:
                raise DataError(
                    f"is a file of the Parquet dataset {directory}, and has no wave column "
                    f"({'the instrument names none' if not wave else repr(wave)}): a file "
                    "without one takes its wave from its name, and a dataset's file names are "
                    "its writer's; add the wave column (the instrument's wave = ...), or give "
                    "each wave's file by name", file=path, key="instrument.wave")


def unique_paths(paths: Iterable[str | Path]) -> list[Path]:
    """The input files, each once (the same file named twice would double-count it); a
    directory stands for the files of the Parquet dataset it holds (:func:`dataset_files`)."""
    seen: dict[Path, Path] = {}
    expanded = [f for p in paths
                for f in (dataset_files(Path(p)) if Path(p).is_dir() else [Path(p)])]
    for path in expanded:
        key = path.resolve() if path.exists() else path
        if key in seen:
            raise UsageError(f"{path} is given more than once")
        seen[key] = path
    if not seen:
        raise UsageError("no survey files given")
    return list(seen.values())


def survey_paths(paths: Iterable[str | Path], instrument: Instrument | None = None
                 ) -> tuple[list[Path], list[Path]]:
    """The survey files among the inputs, each once, and the inputs left out: quarantine
    files servqual wrote (``servqual validate`` puts ``<wave>.rejected.csv`` beside each
    input, where a glob such as ``surveys/*.csv`` picks it up again). With the instrument,
    the files of Parquet datasets are checked for a wave column (:func:`check_dataset_waves`).
    """
    paths = list(paths)
    if instrument is not None:
        check_dataset_waves(paths, instrument)
    paths = unique_paths(paths)
    if instrument is not None and instrument.wave_label:
        check_wave_option(instrument.wave_label, paths)
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
    large = [p for p in paths if p.is_file() and p.stat().st_size >= DUCKDB_FROM_BYTES]
    if not large or instrument is not None and all(_in_spans(p, instrument) for p in large):
        return "memory"
    return "duckdb"


def _in_spans(path: Path, instrument: Instrument) -> bool:
    """Whether the memory engine reads a large file a run of records at a time (UTF-8 text
    whose records each lie on one line, :mod:`servqual.ingest.spans`)."""
    from ..ingest.spans import text_spans  # looks at the first bytes, then (if UTF-8) at all
    from .partition import part_rows

    return bool(text_spans(path, instrument, part_rows()))


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

    return PartsEngine(instrument, split_by=split_by, progress=progress)
