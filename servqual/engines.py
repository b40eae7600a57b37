"""How survey files are read: in memory or out of core with DuckDB, and the next file read
while this one is worked on.

Light on imports (no pandas, statistics or DuckDB), so that the command line can choose and
start reading before the rest of servqual has loaded: the first file's parse then overlaps
those imports.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .errors import UsageError
from .quarantine import is_quarantine_file

if TYPE_CHECKING:
    from .instrument import Instrument

ENGINES = ("auto", "memory", "duckdb")
PARQUET_SUFFIXES = (".parquet", ".pq")
# A file from this size on is validated and aggregated by DuckDB (servqual.outofcore), whose
# memory stays bounded: in memory, a file takes about 11 times its size in CSV at its peak
# (1.8 GB for 150 MB, 1,000,000 respondents; benchmarks/bench_scale.py). Smaller files are
# read in memory a file at a time (pipeline.stream_files), which is faster.
DUCKDB_FROM_BYTES = 512 << 20
# In memory, the next file is read while this one is validated and aggregated
# (:func:`read_ahead`) when no file is larger than this: two files are then in memory at
# once. On 8 × 1,000,000 respondents (150 MB files; this 2-core machine, `servqual report`,
# three runs each) that took the run from 8.5–8.7 s to 7.8–8.4 s, and its peak memory from
# 1.8–1.96 GB to 2.5–2.6 GB.
READ_AHEAD_BYTES = 256 << 20

T = TypeVar("T")


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


def choose_engine(paths: list[Path], engine: str = "auto", instrument: Instrument | None = None
                  ) -> str:
    """``memory`` or ``duckdb`` for these files: as asked, or by the size of the largest.
    Parquet files are read by DuckDB only; long-layout files in memory only."""
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine!r}: use one of {', '.join(ENGINES)}")
    parquet = any(p.suffix.lower() in PARQUET_SUFFIXES for p in paths)
    if engine == "memory" and parquet:
        raise UsageError("Parquet files are read by the duckdb engine only (--engine duckdb)")
    if engine != "auto":
        return engine
    if parquet:
        return "duckdb"
    if instrument is not None and not duckdb_can_read(instrument):
        return "memory"  # long layouts and value segments are read in memory only
    return "duckdb" if _largest(paths) >= DUCKDB_FROM_BYTES else "memory"


def duckdb_can_read(instrument: Instrument) -> bool:
    derived = instrument.customer_classes is not None and instrument.customer_classes.derived
    return instrument.long is None and not derived


def ahead_for(paths: list[Path]) -> int:
    """How many files to read ahead of the one being worked on: one, unless a file is large
    (:data:`READ_AHEAD_BYTES`)."""
    return 1 if _largest(paths) <= READ_AHEAD_BYTES else 0


def _largest(paths: list[Path]) -> int:
    return max((p.stat().st_size for p in paths if p.is_file()), default=0)


def read_ahead(tables: Iterable[T], depth: int = 1) -> ReadAhead[T]:
    """The items of ``tables`` (files being read) in order, up to ``depth`` next ones read in
    a background thread while the caller works on the one it was given; ``depth`` 0 reads
    each when it is asked for.

    pyarrow parses without holding the interpreter, so on two cores the next file's parse
    overlaps this file's validation and aggregation. Reading starts at this call, not at the
    first ``next``. An error reading a file is raised where that file is taken, after the
    files before it were handed over, as without read-ahead. Use it in a ``with`` block (or
    exhaust it): leaving waits for a read in flight.
    """
    return ReadAhead(iter(tables), depth)


_END = object()


class ReadAhead(Iterator[T]):
    """See :func:`read_ahead`."""

    def __init__(self, iterator: Iterator[T], depth: int) -> None:
        self._iterator = iterator
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="servqual-read") \
            if depth > 0 else None
        self._pending = deque(self._read() for _ in range(depth))

    def _read(self) -> Future:
        return self._pool.submit(next, self._iterator, _END)

    def __next__(self) -> T:
        if self._pool is None:
            return next(self._iterator)
        if not self._pending:
            raise StopIteration
        try:
            # Out of its future at once: the future would keep the table alive after the
            # caller let it go.
            item = self._pending.popleft().result()
        except BaseException:
            self.close()
            raise
        if item is _END:
            self.close()
            raise StopIteration
        self._pending.append(self._read())
        return item

    def close(self) -> None:
        """Stop reading ahead: wait for a read in flight and drop what it read."""
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
