"""Parquet files: columns under their names, rows numbered from 1, read a row group at a
time (a Parquet file is always split into fields: nothing is unparseable)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import DataError
from .table import RawTable
from .text import arrow_dtype

PARQUET_SUFFIXES = (".parquet", ".pq")


def read_parquet_table(path, instrument) -> RawTable:
    """A whole Parquet file as one raw table (:func:`servqual.ingest.read_table`)."""
    from .slices import FileRead

    read = FileRead(path=path, index=0)
    tables = list(parquet_slices(read, lambda *_: None, 0))
    if len(tables) == 1:
        return tables[0]
    frame = pd.concat([t.frame for t in tables], ignore_index=True)
    return RawTable(path=path, frame=frame, source_rows=np.concatenate(
        [t.source_rows for t in tables]), kind="parquet", header_row=None)


def row_group_rows(path) -> list[int]:
    """The number of rows of each row group of a Parquet file, from its footer alone; empty
    when the file cannot be read as Parquet (its reader then says why)."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.ParquetFile(path).metadata
    except (pa.ArrowInvalid, OSError):
        return []
    return [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]


def read_parquet_groups(path, start: int, stop: int, first_row: int) -> RawTable:
    """Row groups ``start`` up to ``stop`` of a Parquet file as one raw table, rows numbered
    as in the whole file (``first_row``: the number of the group ``start``'s first row)."""
    import pyarrow.parquet as pq

    from . import reader_for

    path = Path(path)
    reader_for(path)  # exists, readable, and holds Parquet
    try:
        table = pq.ParquetFile(path).read_row_groups(list(range(start, stop)))
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"cannot be read as a Parquet file: {err}", file=path) from err
    names = [str(c) for c in table.schema.names]
    positions = [str(j) for j in range(len(names))]
    frame = table.rename_columns(positions).to_pandas(types_mapper=arrow_dtype)
    return RawTable(path=path, frame=frame.set_axis(names, axis=1),
                    source_rows=np.arange(first_row, first_row + table.num_rows),
                    encoding=None, kind="parquet", header_row=None, continued=start > 0)


def parquet_slices(read, progress, size: int) -> Iterator[RawTable]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(read.path)
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"cannot be read as a Parquet file: {err}", file=read.path) from err
    names = [str(c) for c in pf.schema_arrow.names]
    read.kind, read.columns = "parquet", names
    groups = pf.num_row_groups
    positions = [str(j) for j in range(len(names))]
    for g in range(max(groups, 1)):
        table = pf.read_row_group(g) if groups else pf.schema_arrow.empty_table()
        frame = table.rename_columns(positions).to_pandas(types_mapper=arrow_dtype)
        rows = np.arange(read.rows_parsed, read.rows_parsed + table.num_rows) + 1
        read.rows_parsed += table.num_rows
        progress(f"reading {read.path.name} (MB)", size * (g + 1) / max(groups, 1) / 1e6,
                 size / 1e6)
        raw = RawTable(path=read.path, frame=frame.set_axis(names, axis=1), source_rows=rows,
                       encoding=None, kind="parquet", header_row=None)
        read.unparseable = raw.unparseable  # none: Parquet rows always split into fields
        yield raw
