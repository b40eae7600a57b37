"""Delimited text files (CSV, TSV): pyarrow's multi-threaded reader, guided by the instrument.

A file is read whole (:func:`read_text_table`), or laid out for streaming its records when
it is too large for that (:func:`stream_layout`, for :mod:`servqual.ingest.slices`). Either
way the file is memory-mapped and its text made UTF-8 (:mod:`servqual.ingest.decoding`:
the encoding is the instrument's, or detected, and text in another encoding than UTF-8 is
transcoded once); its header rows are split quote-aware and its delimiter sniffed
(:mod:`servqual.ingest.layout`); pyarrow then parses the records after them with the names
given, and stray quotes that ran records together are quarantined line by line
(:mod:`servqual.ingest.strays`).
"""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..celltext import bounded
from ..errors import DataError
from ..instrument import Instrument
from .decoding import (SNIFF_BYTES, _check_codec, _decoding, _first_invalid_utf8, _map, _NotUtf8,
                       _transcode, _utf8, file_encoding)
from .layout import TextLayout, _parse, text_layout
from .strays import _resynchronised, breaks_in_values
from .spans import TextSpan
from .table import RawTable


def read_text_table(path: Path, instrument: Instrument) -> RawTable:
    """Read a CSV or TSV file; see the module docstring for how."""
    settings = instrument.settings
    data = _map(path)
    if not data[:SNIFF_BYTES].strip() and len(data) <= SNIFF_BYTES:
        raise DataError("the file is empty", file=path)
    auto = settings.encoding == "auto"
    encoding = file_encoding(settings.encoding, data[:SNIFF_BYTES], path)
    _check_codec(encoding, path)
    return _decoding(lambda enc: _read(data, enc, path, instrument), encoding, auto, path,
                     lambda: data)


def read_text_span(path: str | Path, instrument: Instrument, span: TextSpan) -> RawTable:
    """The records of ``span`` of a large UTF-8 text file (:mod:`servqual.ingest.spans`),
    numbered as in the whole file and parsed with the whole file's options."""
    path = Path(path)
    data = _map(path)
    encoding = file_encoding(instrument.settings.encoding, data[:SNIFF_BYTES], path)
    start = len(codecs.BOM_UTF8) if data[:3] == codecs.BOM_UTF8 else 0
    return _records(data, text_layout(data, start, encoding, path, instrument, span=span), path)


def _read(raw, encoding: str, path: Path, instrument: Instrument) -> RawTable:
    data, start = _utf8(raw, encoding, path)
    return _records(data, text_layout(data, start, encoding, path, instrument), path)


def _records(data, layout: TextLayout, path: Path) -> RawTable:
    body_start, end = layout.body_start, layout.end
    body = pa.py_buffer(data)[body_start:end] if end > body_start else pa.py_buffer(b"")
    try:
        table, invalid = _parse(layout.options, body)
        if layout.options.quoted and breaks_in_values(table, invalid):
            table, invalid = _resynchronised(layout.options, body, table, invalid, path)
    except pa.ArrowInvalid as err:
        if "UTF8" in str(err) or "utf8" in str(err).lower():
            raise _NotUtf8(data, _first_invalid_utf8(data)) from None
        raise DataError(f"cannot be read as a delimited text file: {bounded(str(err))}",
                        file=path) from err
    if any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in table.schema.types):
        raise _NotUtf8(data, _first_invalid_utf8(data))
    frame = table.to_pandas(types_mapper=arrow_dtype).set_axis(layout.names, axis=1)
    records = np.arange(table.num_rows, dtype=np.int64)
    return layout.raw_table(path, frame, layout.source_rows(records, invalid),
                            layout.unparseable(invalid))


def stream_layout(path: Path, instrument: Instrument, scratch: Path,
                  encoding: str | None = None) -> tuple[TextLayout, Path]:
    """For a file too large to read whole: its layout, as :func:`read_text_table` decides it,
    and a UTF-8 file holding its text to stream the records from (the file itself, or its
    text transcoded into the folder ``scratch``). ``encoding`` overrides the instrument's and
    the detected one (see :func:`~servqual.ingest.decoding.encoding_where_utf8_fails`)."""
    settings = instrument.settings
    auto = settings.encoding == "auto" and encoding is None
    if encoding is None:
        with path.open("rb") as fh:
            sample = fh.read(SNIFF_BYTES)
        if not sample.strip() and path.stat().st_size <= SNIFF_BYTES:
            raise DataError("the file is empty", file=path)
        encoding = file_encoding(settings.encoding, sample, path)
    _check_codec(encoding, path)
    return _decoding(lambda enc: _stream_layout(path, enc, instrument, scratch), encoding, auto,
                     path, lambda: _map(path))


def _stream_layout(path: Path, encoding: str, instrument: Instrument, scratch: Path
                   ) -> tuple[TextLayout, Path]:
    text = path
    if codecs.lookup(encoding).name not in ("utf-8", "utf-8-sig"):
        text = _transcode(path, encoding, scratch)
    data = _map(text)
    start = len(codecs.BOM_UTF8) if data[:3] == codecs.BOM_UTF8 else 0
    # Looking for a quote would read the whole file: quoted line breaks are allowed anyway.
    return text_layout(data, start, encoding, path, instrument, find_quotes=False), text


def arrow_dtype(arrow_type: pa.DataType):
    # Columns stay Arrow-backed (no copy); text is pandas' string dtype whatever the pandas
    # version, and whole numbers stay whole with blanks (the quarantine shows 7, not 7.0).
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.StringDtype("pyarrow")
    return pd.ArrowDtype(arrow_type)
