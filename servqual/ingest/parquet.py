"""Parquet files: columns under their names, rows numbered from 1, read a row group at a
time (a Parquet file is always split into fields: nothing is unparseable)."""

from __future__ import annotations

from collections.abc import Iterator

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
