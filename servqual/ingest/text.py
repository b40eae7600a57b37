"""Delimited text files (CSV, TSV): pyarrow's multi-threaded reader, guided by the instrument."""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import DataError
from ..instrument import Instrument
from .table import RawTable

SNIFF_BYTES = 1 << 16
DELIMITERS = (",", ";", "\t", "|")
# Text that means "no value" in exports (pyarrow's defaults plus Excel's and SPSS's habits).
NULL_TOKENS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
               "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null", "None"]


def sniff_delimiter(first_line: str, suffix: str) -> str:
    """The delimiter that splits the header line into the most fields (quotes respected)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in first_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    if counts[best] == 0:
        return "\t" if suffix == ".tsv" else ","
    return best


def detect_encoding(sample: bytes, path: Path) -> str:
    """The encoding of a text file when the instrument says ``encoding = "auto"``."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as err:
        # A multi-byte character cut at the end of the sample is not an error.
        if err.start >= len(sample) - 3 and len(sample) >= SNIFF_BYTES:
            return "utf-8"
    raise DataError("the file is not UTF-8 text; name its encoding in the instrument "
                    "(encoding = \"gb18030\", for example)", file=path)


def read_text_table(path: Path, instrument: Instrument) -> RawTable:
    settings = instrument.settings
    with path.open("rb") as fh:
        sample = fh.read(SNIFF_BYTES)
    if not sample.strip():
        raise DataError("the file is empty", file=path)
    encoding = detect_encoding(sample, path) if settings.encoding == "auto" else settings.encoding
    try:
        codecs.lookup(encoding)
    except LookupError as err:
        raise DataError(f"unknown encoding {encoding!r}", file=path, column=None,
                        key="instrument.encoding") from err
    text_sample = sample.decode(encoding, errors="replace").lstrip("\ufeff")
    first_line = text_sample.splitlines()[0] if text_sample else ""
    delimiter = sniff_delimiter(first_line, path.suffix.lower())

    text_columns = [c for c in (settings.respondent_id, settings.wave, *settings.segments) if c]
    pyarrow_encoding = "utf8" if codecs.lookup(encoding).name == "utf-8" else encoding
    invalid: list[tuple[int | None, str]] = []

    def on_invalid(row) -> str:
        invalid.append((row.number, row.text))
        return "skip"

    def read(threads: bool) -> pa.Table:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                use_threads=threads, encoding=pyarrow_encoding,
                skip_rows_after_names=settings.header_rows - 1, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in text_columns},
                null_values=NULL_TOKENS, strings_can_be_null=True,
                quoted_strings_can_be_null=True),
        )

    try:
        table = read(threads=True)
        if invalid:  # row numbers are only known from a single-threaded read
            invalid.clear()
            table = read(threads=False)
    except pa.ArrowInvalid as err:
        raise DataError(_explain_arrow_error(err, encoding), file=path) from err
    except UnicodeDecodeError as err:
        raise DataError(f"cannot be decoded as {encoding}: {err.reason} at byte {err.start}; "
                        "name the right encoding in the instrument", file=path) from err

    header_rows = settings.header_rows
    # pyarrow counts physical lines from 1 with the header as line 1; skipped header rows count.
    bad_rows = np.array([n for n, _ in invalid if n is not None], dtype=np.int64)
    total = table.num_rows + len(invalid)
    all_rows = np.arange(header_rows + 1, header_rows + 1 + total, dtype=np.int64)
    source_rows = np.setdiff1d(all_rows, bad_rows, assume_unique=True)[: table.num_rows]
    frame = table.to_pandas(types_mapper=_types_mapper)
    frame.columns = [str(c).strip() for c in frame.columns]
    unparseable = pd.DataFrame({
        "source_row": pd.Series([n if n is not None else -1 for n, _ in invalid], dtype="int64"),
        "text": pd.Series([t for _, t in invalid], dtype="object"),
    })
    return RawTable(path=path, frame=frame, source_rows=source_rows, unparseable=unparseable,
                    encoding=encoding)


def _types_mapper(arrow_type: pa.DataType):
    # Text stays pandas' string dtype whatever the pandas version, so checks are uniform, and
    # whole numbers stay whole numbers even with blanks (the quarantine shows 7, not 7.0).
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.StringDtype()
    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype()
    return None


def _explain_arrow_error(err: Exception, encoding: str) -> str:
    text = str(err)
    if "Empty CSV file" in text:
        return "the file is empty"
    if "UTF8" in text or "utf8" in text.lower():
        return f"the file is not valid {encoding} text; name its encoding in the instrument"
    return f"cannot be read as a delimited text file: {text}"
