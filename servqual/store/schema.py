"""The history store's file: its tables, schema version, locking, and instrument structure.

Light on imports (DuckDB and the instrument only), so that ``servqual trend`` starts fast.
"""

from __future__ import annotations

import hashlib
import json
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import duckdb

from .. import __version__
from ..errors import DataError, InputFileError, OutputError, UsageError
from ..instrument import Instrument, parse_instrument
from . import DEFAULT_WAIT, SCHEMA_VERSION

# Migrations from version n to n + 1, applied in one transaction when a writer opens an
# older store. Version 1 is the first; the next schema change adds its step here.
MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {}

TABLES = {
    "servqual_store": "key VARCHAR PRIMARY KEY, value VARCHAR",
    "ingests": "ingest INTEGER PRIMARY KEY, ingested_at TIMESTAMP, files VARCHAR, "
               "waves VARCHAR, "
               "engine VARCHAR, servqual VARCHAR",
    "waves": "wave VARCHAR PRIMARY KEY, ingest INTEGER, instrument_name VARCHAR, "
             "fingerprint VARCHAR, instrument VARCHAR, respondents BIGINT, quality VARCHAR, "
             "files VARCHAR, rows_table VARCHAR, ingested_at TIMESTAMP",
    "moments": "wave VARCHAR, segment VARCHAR, value VARCHAR, level VARCHAR, id VARCHAR, "
               "measure VARCHAR, n BIGINT, sum DOUBLE, sumsq DOUBLE, w DOUBLE, wsum DOUBLE, "
               "wsumsq DOUBLE, w2 DOUBLE",
    "histograms": "wave VARCHAR, segment VARCHAR, value VARCHAR, level VARCHAR, id VARCHAR, "
                  "measure VARCHAR, x DOUBLE, count DOUBLE",
    "crossproducts": "wave VARCHAR, kind VARCHAR, id VARCHAR, a VARCHAR, b VARCHAR, n DOUBLE, "
                     "sum_a DOUBLE, sum_b DOUBLE, sum_ab DOUBLE",
    "importance": "wave VARCHAR, respondents BIGINT, used BIGINT, rescaled BIGINT, "
                  "all_zero BIGINT, missing_or_invalid BIGINT",
    "quarantine": "wave VARCHAR, ingest INTEGER, source_file VARCHAR, source_row BIGINT, "
                  "reason VARCHAR, \"column\" VARCHAR, value VARCHAR, duplicate_of BIGINT, "
                  "record VARCHAR",
    "trend_series": "level VARCHAR, id VARCHAR, dimension VARCHAR, segment VARCHAR, "
                    "value VARCHAR, wave VARCHAR, n BIGINT, expectation_mean DOUBLE, "
                    "perception_mean DOUBLE, gap_mean DOUBLE, gap_sd DOUBLE, "
                    "gap_ci95_low DOUBLE, gap_ci95_high DOUBLE, p_value DOUBLE, "
                    "suppressed BOOLEAN",
    "trend_fits": "level VARCHAR, id VARCHAR, dimension VARCHAR, segment VARCHAR, "
                  "value VARCHAR, measure VARCHAR, direction VARCHAR, waves INTEGER, "
                  "slope_per_wave DOUBLE, slope_ci95_low DOUBLE, slope_ci95_high DOUBLE, "
                  "p_value DOUBLE, change DOUBLE, first DOUBLE, last DOUBLE, "
                  "first_wave VARCHAR, last_wave VARCHAR, kendall_tau DOUBLE, "
                  "kendall_p DOUBLE, theil_sen_slope DOUBLE",
}
TREND_FIT_FIELDS = ["direction", "waves", "slope_per_wave", "slope_ci95_low", "slope_ci95_high",
                    "p_value", "change", "first", "last", "first_wave", "last_wave",
                    "kendall_tau", "kendall_p", "theil_sen_slope"]
SERIES_FIELDS = ["n", "expectation_mean", "perception_mean", "gap_mean", "gap_sd",
                 "gap_ci95_low", "gap_ci95_high", "p_value"]


# --------------------------------------------------------------------------------------------
# Instrument structure


def structure(instrument: Instrument) -> dict:
    """What of an instrument shapes a wave's aggregates (and so must not differ between the
    waves of one store): items and their dimensions, scale, missing codes, which optional
    columns exist, segments and the scoring settings. Not the wording, labels, column names or
    the thresholds applied after aggregation."""
    s = instrument.settings
    a = instrument.analysis
    return {
        "scale": [s.scale_min, s.scale_max],
        "missing_codes": sorted(float(m) for m in s.missing_codes),
        "respondent_id": bool(s.respondent_id),
        "sampling_weight": bool(s.sampling_weight),
        "overall_satisfaction": bool(s.overall_satisfaction),
        "segments": list(s.segments),
        "quarantine_straightlining": bool(s.quarantine_straightlining),
        "min_item_share": float(a.min_item_share),
        "importance_tolerance": float(a.importance_tolerance),
        "dimensions": [[d.key, bool(d.importance)] for d in instrument.dimensions],
        "items": [[i.id, i.dimension, bool(i.reverse), bool(i.adequate)]
                  for i in instrument.items],
        "adequate": instrument.has_adequate,
    }


def fingerprint(instrument: Instrument) -> str:
    text = json.dumps(structure(instrument), sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe_difference(old: dict, new: dict) -> str:
    """What differs between two instrument structures, in words."""
    parts = []
    for key in new:
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key == "items":
            before, after = {i[0]: i for i in a or []}, {i[0]: i for i in b or []}
            added = [i for i in after if i not in before]
            removed = [i for i in before if i not in after]
            changed = [i for i in after if i in before and after[i] != before[i]]
            words = []
            if added:
                words.append("items added: " + ", ".join(added))
            if removed:
                words.append("items removed: " + ", ".join(removed))
            if changed:
                words.append("items changed (dimension, reverse or adequate column): "
                             + ", ".join(changed))
            if not words:
                words.append("items reordered")
            parts.append("; ".join(words))
        elif key == "dimensions":
            parts.append(f"dimensions {[d[0] for d in a or []]} → {[d[0] for d in b or []]}"
                         if [d[0] for d in a or []] != [d[0] for d in b or []]
                         else "importance columns of the dimensions differ")
        else:
            parts.append(f"{key} {a!r} → {b!r}")
    return "; ".join(parts) or "the instrument structure differs"


def instrument_text(instrument: Instrument) -> str:
    """The instrument file's text (kept with every wave)."""
    if instrument.path is None or not Path(instrument.path).is_file():
        raise DataError("the instrument must come from a file to be kept in the store")
    return Path(instrument.path).read_text(encoding="utf-8-sig")


def instrument_from_text(text: str, where: str) -> Instrument:
    return parse_instrument(tomllib.loads(text), where)


# --------------------------------------------------------------------------------------------
# Opening

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
_FILE_ERRORS = (duckdb.IOException, duckdb.SerializationException, duckdb.InvalidInputException,
                duckdb.CatalogException, duckdb.FatalException, duckdb.InternalException)


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
                   "Catalog Error: ", "FATAL Error: ", "INTERNAL Error: "):
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
    if "permission denied" in low and about_file:
        if write:
            return OutputError(f"cannot write the history store ({_reason(err)})", file=path)
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


def _lock_holder(message: str) -> str:
    """'PID 1234' from DuckDB's lock error, if it says."""
    if "PID" in message:
        return "process " + message.split("PID", 1)[1].split(")")[0].strip()
    return "another process"


def attach(con: duckdb.DuckDBPyConnection, path: Path, *, write: bool,
           wait: float = DEFAULT_WAIT, on_wait: Callable[[str], None] | None = None,
           writer: bool = False) -> None:
    """Attach the store at ``path`` to ``con`` as ``store``, waiting for another process's
    lock up to ``wait`` seconds. ``writer``: a read-only attach on behalf of a writer (whose
    errors are the writer's)."""
    check_file(path)
    if not write and not path.exists():
        raise InputFileError("the history store does not exist; add waves to it first "
                             "(servqual ingest FILE... --store PATH)", file=path)
    if write:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"cannot create the store's folder: {err.strerror}",
                              file=path) from err
    # TYPE duckdb: without it DuckDB opens an existing file ending in .csv (say) as an
    # in-memory database, and an ingest would keep nothing. (check_file refuses such a
    # file first; the type and the path check below keep the store a file regardless.)
    mode = "TYPE duckdb" if write else "TYPE duckdb, READ_ONLY"
    deadline = time.monotonic() + max(wait, 0.0)
    told = False
    while True:
        try:
            con.execute(f"ATTACH {_sql_text(str(path))} AS store ({mode})").fetchall()
            break
        except duckdb.IOException as err:
            message = str(err)
            if "lock" not in message.lower():
                raise _unreadable(path, err, write) from err
            if time.monotonic() >= deadline:
                error = OutputError if write or writer else InputFileError
                raise error(f"the store is in use by {_lock_holder(message)} (another servqual "
                            f"ingest?); waited {wait:g} s for it; try again when it has "
                            "finished, or wait longer with --wait SECONDS", file=path) from None
            if on_wait is not None and not told:
                on_wait(f"waiting for {path}: in use by {_lock_holder(message)}")
                told = True
            time.sleep(0.2)
        except duckdb.Error as err:
            raise _unreadable(path, err, write) from err
    rows = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = 'store'"
                       ).fetchall()
    if not rows or not rows[0][0]:
        con.execute("DETACH store").fetchall()
        raise UsageError(f"--store {path} is not a file path DuckDB keeps a database in")


def _unreadable(path: Path, err: Exception, write: bool) -> Exception:
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


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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


def tables_of(con) -> set[str]:
    rows = con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'store'"
                       ).fetchall()
    return {r[0] for r in rows}


class _transaction:
    """BEGIN … COMMIT, or ROLLBACK when the block raises."""

    def __init__(self, con):
        self.con = con

    def __enter__(self):
        self.con.execute("BEGIN").fetchall()

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.con.execute("COMMIT").fetchall()
            return False
        try:
            self.con.execute("ROLLBACK").fetchall()
        except duckdb.Error:
            pass  # DuckDB ended the transaction itself (a failed commit): the error says why
        return False


def stored_version(con, path: Path) -> int | None:
    """The attached store's schema version, None for an empty DuckDB database (a new
    store); a DataError for a file that is not a store this servqual can read."""
    tables = tables_of(con)
    if "servqual_store" not in tables:
        if tables:
            raise DataError("is a DuckDB database but not a servqual history store (it has no "
                            "servqual_store table); check --store; if it was the store, it is "
                            "damaged: " + rebuild_hint(), file=path)
        return None
    rows = con.execute("SELECT value FROM store.servqual_store WHERE key = 'schema_version'"
                       ).fetchall()
    row = rows[0] if rows else None
    try:
        version = int(row[0]) if row else 0
    except ValueError:
        version = 0
    if version < 1:
        raise DataError("is a servqual history store without a valid schema version; if it "
                        "is damaged, " + rebuild_hint(), file=path)
    if version > SCHEMA_VERSION:
        raise DataError(f"was written by a newer servqual (store schema version {version}; "
                        f"this servqual {__version__} reads up to version {SCHEMA_VERSION}); "
                        "upgrade servqual to use it", file=path)
    return version


def _check_tables(con, path: Path) -> None:
    """Every table and column of the schema is there (so a query that fails later on a
    missing one is a bug in servqual, not a damaged store)."""
    have = {(t, c) for t, c in con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = 'store'"
    ).fetchall()}
    missing = [f"{table}.{column}" for table, spec in TABLES.items()
               for column in _column_names(spec) if (table, column) not in have]
    if missing:
        listed = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
        raise DataError(f"the history store is damaged: it lacks {listed}; "
                        + rebuild_hint(), file=path)


def _column_names(spec: str) -> list[str]:
    """The column names of a table's definition in :data:`TABLES`."""
    return [part.split()[0].strip('"') for part in spec.split(", ")]


def check_schema(con, path: Path, *, write: bool) -> bool:
    """The store's schema version is one this servqual reads; create the schema in an empty
    file, migrate an older one (writers only). True when it created the schema."""
    version = stored_version(con, path)
    if version is None:
        if not write:
            raise DataError("is an empty DuckDB database, not a servqual history store; check "
                            "--store, or add waves to it with servqual ingest", file=path)
        with _transaction(con):
            for name, columns in TABLES.items():
                con.execute(f"CREATE TABLE store.{name} ({columns})").fetchall()
            con.execute("INSERT INTO store.servqual_store VALUES ('schema_version', ?), "
                        "('created_by', ?)",
                        [str(SCHEMA_VERSION), f"servqual {__version__}"]).fetchall()
        return True
    if version < SCHEMA_VERSION:
        if not write:
            raise DataError(f"uses store schema version {version}; run servqual ingest on it "
                            f"once to migrate it to version {SCHEMA_VERSION}", file=path)
        with _transaction(con):
            for v in range(version, SCHEMA_VERSION):
                MIGRATIONS[v](con)
            con.execute("UPDATE store.servqual_store SET value = ? WHERE key = "
                        "'schema_version'", [str(SCHEMA_VERSION)]).fetchall()
    _check_tables(con, path)
    return False
