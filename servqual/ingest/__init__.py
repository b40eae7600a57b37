"""Ingest: read survey files as analysts receive them into :class:`RawTable` objects.

A reader turns one file into a table of the values as written, with the spreadsheet row number
of each record, and rows it could not even split into fields (``unparseable``). It does not
judge the values: that is :mod:`servqual.validate`'s job. Readers are chosen by file extension.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError, InputFileError
from ..instrument import Instrument
from .table import RawTable
from .text import read_text_table

__all__ = ["RawTable", "read_table", "READERS"]

READERS = {
    ".csv": read_text_table,
    ".tsv": read_text_table,
    ".txt": read_text_table,
}


def read_table(path: str | Path, instrument: Instrument) -> RawTable:
    """Read one survey file.

    Raises
    ------
    InputFileError
        The file does not exist or cannot be read (exit 66).
    DataError
        The file cannot be read as a survey table of its kind (exit 65).
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError("file does not exist", file=path)
    if path.is_dir():
        raise InputFileError("is a directory, not a survey file", file=path)
    try:
        with path.open("rb"):
            pass
    except OSError as err:
        raise InputFileError(f"cannot be read: {err.strerror}", file=path) from err
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        known = ", ".join(sorted(READERS))
        raise DataError(f"unsupported file type {path.suffix or '(none)'!r}; servqual reads {known}",
                        file=path)
    return reader(path, instrument)
