"""Ingest: read survey files as analysts receive them into :class:`RawTable` objects.

A reader turns one file into a table of the values as written, with the spreadsheet row number
of each record, and rows it could not even split into fields (``unparseable``). It does not
judge the values: that is :mod:`servqual.validate`'s job. Readers are chosen by file
extension, after checking that the file holds what its extension says.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError, InputFileError
from ..instrument import Instrument
from .excel import read_excel_table
from .parquet import read_parquet_table
from .spss import read_spss_table
from .table import RawTable
from .text import read_text_table

__all__ = ["RawTable", "read_table", "reader_for", "READERS"]

READERS = {
    ".csv": read_text_table,
    ".tsv": read_text_table,
    ".txt": read_text_table,
    ".xlsx": read_excel_table,
    ".xlsm": read_excel_table,
    ".xls": read_excel_table,
    ".sav": read_spss_table,
    ".zsav": read_spss_table,
    ".parquet": read_parquet_table,
    ".pq": read_parquet_table,
}

# What the first bytes of a file say it is, and what each extension must hold.
_SIGNATURES = (
    (b"PK\x03\x04", "zip", "an Excel workbook (.xlsx) or another zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole", "an Excel 97-2003 workbook (.xls)"),
    (b"$FL2", "sav", "an SPSS data file (.sav)"),
    (b"$FL3", "sav", "a compressed SPSS data file (.zsav)"),
    (b"PAR1", "parquet", "a Parquet file"),
)
_EXPECTED = {".xlsx": "zip", ".xlsm": "zip", ".xls": "ole", ".sav": "sav", ".zsav": "sav",
             ".parquet": "parquet", ".pq": "parquet"}


def read_table(path: str | Path, instrument: Instrument) -> RawTable:
    """Read one survey file.

    Raises
    ------
    InputFileError
        The file does not exist or cannot be read (exit 66).
    DataError
        The file is empty, is not what its extension says, or cannot be read as a survey
        table of its kind (exit 65).
    """
    path = Path(path)
    return reader_for(path)(path, instrument)


def reader_for(path: Path):
    """The reader of a file, after checking that it exists, can be read, is not empty and
    holds what its extension says (see :func:`read_table`)."""
    start = _first_bytes(path)
    suffix = path.suffix.lower()
    reader = READERS.get(suffix)
    if reader is None:
        known = ", ".join(sorted(READERS))
        raise DataError(f"unsupported file type {path.suffix or '(none)'!r}; servqual reads "
                        f"{known}", file=path)
    if not start.strip():
        raise DataError("the file is empty", file=path)
    kind, holds = _content(start)
    expected = _EXPECTED.get(suffix, "text")
    if kind != expected:
        raise DataError(f"is named {suffix} but holds {holds}; give it the extension of what "
                        "it holds, or export it again", file=path)
    return reader


def _first_bytes(path: Path, size: int = 512) -> bytes:
    """The first bytes of a survey file; InputFileError when it is missing or unreadable."""
    if not path.exists():
        raise InputFileError("file does not exist", file=path)
    if path.is_dir():
        raise InputFileError("is a directory, not a survey file", file=path)
    try:
        with path.open("rb") as fh:
            return fh.read(size)
    except OSError as err:
        raise InputFileError(f"cannot be read: {err.strerror}", file=path) from err


def _content(start: bytes) -> tuple[str, str]:
    """What a file holds, judged from its first bytes: (kind, a description for people)."""
    for signature, kind, description in _SIGNATURES:
        if start.startswith(signature):
            return kind, description
    head = start.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<table", b"<?xml")):
        return "markup", "a web page or XML (some systems export those under an Excel name)"
    return "text", "text (such as CSV)"
