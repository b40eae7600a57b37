"""The history store's integrity: a damaged, truncated or foreign store file is refused.

A store file that is not a DuckDB database, a write-ahead log that is not DuckDB's, and the
DuckDB errors reading a damaged file raises all become servqual's errors naming the file and
how to recover (:func:`rebuild_hint`): DataError (exit 65) for a damaged or foreign file,
InputFileError (66) for one that cannot be read, OutputError (73) for one that cannot be
written. Light on imports (DuckDB only), like :mod:`.schema`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ..errors import DataError, InputFileError, OutputError

# A DuckDB database file says "DUCK" at byte 8 of its first header block; its write-ahead
# log starts with the log's version entry (field 100 = 98, field 101 …).
DUCKDB_MAGIC = b"DUCK"
WAL_MAGIC = b"\x64\x00\x62\x65\x00"

# What DuckDB says when the bytes it reads from a database file are not what it wrote.
_DAMAGE_WORDS = ("corrupt", "checksum", "not a valid duckdb database", "could not read enough",
                 "replaying wal", "invalidated", "serializ", "unexpected end")
# The DuckDB exceptions reading a damaged file raises (a checksum mismatch is a plain
# duckdb.Error). Others (BinderException, ParserException, ConstraintException …) come from
# servqual's own queries: bugs, never blamed on the file.
# A commit that cannot write the log is a TransactionException.
_FILE_ERRORS = (duckdb.IOException, duckdb.SerializationException, duckdb.InvalidInputException,
                duckdb.CatalogException, duckdb.FatalException, duckdb.InternalException,
                duckdb.TransactionException)
# What the system says of a file or folder this process may not write (or read).
_DENIED = ("permission denied", "operation not permitted", "read-only file system")


def wal_of(path: Path) -> Path:
    return Path(f"{path}.wal")


def rebuild_hint(what: str = "it", kept: str = "it") -> str:
    """How to recover from a store that cannot be used."""
    return (f"move {what} aside (keep {kept}: it may still be recoverable) and rebuild the "
            "store with servqual ingest on the survey files (every wave's files)")


def damaged(path: Path, reason: str) -> DataError:
    return DataError(f"the history store is damaged (DuckDB: {reason}); " + rebuild_hint(),
                     file=path)


def damaged_log(path: Path, reason: str) -> DataError:
    wal = wal_of(path)
    return DataError(f"the history store's write-ahead log {wal} is damaged or belongs to "
                     f"another database ({reason}); "
                     + rebuild_hint(f"the store and {wal.name}", "them"), file=path)


def _reason(err: BaseException) -> str:
    """DuckDB's message, first line, without its error-class prefix, in at most 200
    characters."""
    text = (str(err).splitlines() or [type(err).__name__])[0].strip()
    for prefix in ("IO Error: ", "Serialization Error: ", "Invalid Input Error: ",
                   "Catalog Error: ", "FATAL Error: ", "INTERNAL Error: ",
                   "TransactionContext Error: "):
        text = text.removeprefix(prefix)
    return text if len(text) <= 200 else text[:199] + "…"


def check_file(path: Path) -> None:
    """Refuse, before DuckDB opens it, a store path that is a directory, cannot be read, is
    not a DuckDB database file, or has a write-ahead log beside it that is not DuckDB's.
    (DuckDB would ignore such a log, and a writer delete it.) A missing path passes."""
    if path.is_dir():
        raise InputFileError("is a directory, not a history store file; give the store's file, "
                             f"e.g. --store {path / 'servqual.duckdb'}", file=path)
    if not path.exists():
        return
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as err:
        raise InputFileError(f"the history store cannot be read ({err.strerror})",
                             file=path) from None
    if not head:
        raise DataError("the history store is an empty file (0 bytes), not a DuckDB database; "
                        "if it was the store it has been truncated: " + rebuild_hint(),
                        file=path)
    if head[8:12] != DUCKDB_MAGIC:
        raise DataError("is not a servqual history store: not a DuckDB database file (check "
                        "--store); if it was the store, it is damaged: " + rebuild_hint(),
                        file=path)
    wal = wal_of(path)
    if wal.is_file():
        try:
            with open(wal, "rb") as f:
                start = f.read(len(WAL_MAGIC))
        except OSError as err:
            raise InputFileError(f"the history store's write-ahead log {wal} cannot be read "
                                 f"({err.strerror})", file=path) from None
        if start != WAL_MAGIC[:len(start)]:  # a log cut short while it was created is a crash
            raise damaged_log(path, "not a DuckDB write-ahead log")


def failure(path: Path, err: BaseException, *, write: bool):
    """The servqual error for a DuckDB error met reading (or writing) the store at ``path``,
    or None when the error is not about the file (a bug in a query: let it surface)."""
    if not isinstance(err, duckdb.Error):
        return None
    if type(err) is not duckdb.Error and not isinstance(err, _FILE_ERRORS):
        return None
    text = str(err)
    low = text.lower()
    names = {str(path), str(path.absolute()), str(wal_of(path)), str(wal_of(path.absolute()))}
    about_file = any(f'"{n}"' in text for n in names)
    if any(w in low for w in _DENIED) and about_file:
        if write:
            return OutputError(f"cannot write the history store ({_reason(err)}): the store "
                               "and the folder it is in must be writable (DuckDB writes a log "
                               "beside the store)", file=path)
        return InputFileError(f"the history store cannot be read ({_reason(err)})", file=path)
    if "is a directory" in low and about_file:
        return InputFileError("is a directory, not a history store file", file=path)
    if write and about_file and ("no space left" in low or "could not write" in low):
        return OutputError(f"cannot write the history store ({_reason(err)})", file=path)
    if "wal" in low and any(f'"{n}"' in text for n in names if n.endswith(".wal")):
        return damaged_log(path, _reason(err))
    if isinstance(err, duckdb.SerializationException) or about_file \
            or any(w in low for w in _DAMAGE_WORDS):
        return damaged(path, _reason(err))
    return None


class guard:
    """Map the DuckDB errors that a damaged or unreadable store raises in the block to
    servqual's errors (see :func:`failure`); any other exception passes unchanged."""

    def __init__(self, path: Path, *, write: bool = False):
        self.path = Path(path)
        self.write = write

    def __enter__(self) -> guard:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        mapped = failure(self.path, exc, write=self.write) if exc is not None else None
        if mapped is not None:
            raise mapped from exc
        return False



def unreadable(path: Path, err: Exception, write: bool) -> Exception:
    """The servqual error for a DuckDB error attaching the store at ``path``."""
    text = _reason(err)
    if "version" in text.lower() and "wal" not in text.lower():
        return DataError(f"cannot open the store: it was written by another DuckDB storage "
                         f"format version than this servqual's DuckDB ({duckdb.__version__}) "
                         f"reads; upgrade servqual, or, if the store is damaged, "
                         f"{rebuild_hint()} (DuckDB: {text})", file=path)
    mapped = failure(path, err, write=write)
    if mapped is not None:
        return mapped
    if not write or path.exists():
        return damaged(path, text)
    return OutputError(f"cannot create the store: {text}", file=path)


def verify(con, path: Path) -> None:
    """Read every block of the attached store: each column of each table and each primary
    key's index. DuckDB checks every block's checksum as it reads it, so a damaged store
    fails here, before a writer changes anything, rather than in the middle of a commit."""
    tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'store'"
                         ).fetchall()
    for (table,) in tables:
        con.execute(f"SELECT count(*), bit_xor(hash(COLUMNS(*))) FROM store.{_name(table)}"
                    ).fetchall()
    keys = con.execute("SELECT table_name, constraint_column_names FROM duckdb_constraints() "
                       "WHERE database_name = 'store' AND constraint_type = 'PRIMARY KEY'"
                       ).fetchall()
    for table, columns in keys:
        key = ", ".join(_name(c) for c in columns)
        con.execute(f"SELECT count(*) FROM store.{_name(table)} WHERE ({key}) IN "
                    f"(SELECT ({key}) FROM store.{_name(table)})").fetchall()


def _name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
