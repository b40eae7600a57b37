"""Domain errors and the exit codes they map to (contract §2).

Every mistake a user can make (a bad file, a bad instrument, an unwritable output) is one of
these exceptions, raised with enough context to name the file, the row and the column. The
CLI turns them into a one-line message and an exit code; anything else is a bug and keeps its
traceback (exit 1).
"""

from __future__ import annotations

from pathlib import Path

from .celltext import quoted

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_DATA = 65  # EX_DATAERR: the data or the instrument is invalid
EXIT_NO_INPUT = 66  # EX_NOINPUT: an input file does not exist or cannot be read
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: a service servqual was told to use cannot be reached
EXIT_CANT_CREATE = 73  # EX_CANTCREAT: an output cannot be written
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL: some e-mail could not be delivered; a rerun sends the rest


class ServqualError(Exception):
    """Base class of the errors a user can cause and fix."""

    exit_code = EXIT_INTERNAL

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        self.key = key

    def __reduce__(self):
        """Pickled with its file, row, column and key: an error raised on a worker of a
        cluster (:mod:`servqual.engines.dask`) reaches the command line whole."""
        return _rebuild, (type(self), self.message, self.file, self.row, self.column, self.key)

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {quoted(self.column)}")
        if self.key is not None:
            where.append(f"key {quoted(self.key)}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class UsageError(ServqualError):
    """The command line itself is wrong (an option value, a combination of options)."""

    exit_code = EXIT_USAGE


class DataError(ServqualError):
    """The survey data cannot be analysed as the instrument describes it."""

    exit_code = EXIT_DATA


class InstrumentError(DataError):
    """The instrument file (or another configuration file) is invalid."""


class InputFileError(ServqualError):
    """An input file does not exist or cannot be read."""

    exit_code = EXIT_NO_INPUT


class UnavailableError(ServqualError):
    """A service the command line names cannot be reached (a Dask scheduler)."""

    exit_code = EXIT_UNAVAILABLE


class DeliveryError(ServqualError):
    """Some recipients did not get their report (``servqual distribute``); the others did,
    and a rerun sends only what is missing."""

    exit_code = EXIT_TEMPFAIL


class OutputError(ServqualError):
    """An output file cannot be written."""

    exit_code = EXIT_CANT_CREATE


def _rebuild(cls, message, file, row, column, key) -> ServqualError:
    return cls(message, file=file, row=row, column=column, key=key)
