"""The history store's file: its tables, schema version, locking, and instrument structure.

A damaged or foreign store file is refused by :mod:`.integrity`. Light on imports (DuckDB
and the instrument only), so that ``servqual trend`` starts fast.
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
from .integrity import check_file, rebuild_hint, unreadable



def _weighted_squares(con: duckdb.DuckDBPyConnection) -> None:
    """Version 1 → 2: the moments keep Σw²·x and Σw²·x² (the design-based variance of a
    weighted mean). Waves stored before have NULL there, and their weighted standard errors
    fall back on Kish's effective sample size (:func:`servqual.stats.moments.describe`)
    until they are ingested again."""
    for column in ("w2sum", "w2sumsq"):
        con.execute(f"ALTER TABLE store.moments ADD COLUMN {column} DOUBLE").fetchall()


def _weighted_drivers(con: duckdb.DuckDBPyConnection) -> None:
    """Version 2 → 3: the cross-products keep ``w``, the Σ of the sampling weights their sums
    were weighted with (the key drivers weigh respondents since then). Waves stored before
    summed every respondent with weight 1: their w is n (unweighted key drivers, as they
    were reported) until they are ingested again."""
    con.execute("ALTER TABLE store.crossproducts ADD COLUMN w DOUBLE").fetchall()
    con.execute("UPDATE store.crossproducts SET w = n").fetchall()


# Migrations from version n to n + 1, applied in one transaction when a writer opens an
# older store.
MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {
    1: _weighted_squares, 2: _weighted_drivers}

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
               "wsumsq DOUBLE, w2 DOUBLE, w2sum DOUBLE, w2sumsq DOUBLE",
    "histograms": "wave VARCHAR, segment VARCHAR, value VARCHAR, level VARCHAR, id VARCHAR, "
                  "measure VARCHAR, x DOUBLE, count DOUBLE",
    "crossproducts": "wave VARCHAR, kind VARCHAR, id VARCHAR, a VARCHAR, b VARCHAR, n DOUBLE, "
                     "sum_a DOUBLE, sum_b DOUBLE, sum_ab DOUBLE, w DOUBLE",
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
        "missing_codes": sorted(s.missing_numbers),
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
        # which copy of a respondent is kept; absent for the default, as stored before it
        **({"duplicates": s.duplicates} if s.duplicates != "quarantine" else {}),
        # outcomes beyond satisfaction and their scales (the NPS needs recommend's answers);
        # absent when there are none, as stored before them
        **({"outcomes": [[o.key, o.scale_min, o.scale_max] for o in instrument.outcomes
                         if o.key != "satisfaction"]}
           if any(o.key != "satisfaction" for o in instrument.outcomes) else {}),
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
                raise unreadable(path, err, write) from err
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
            raise unreadable(path, err, write) from err
    rows = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = 'store'"
                       ).fetchall()
    if not rows or not rows[0][0]:
        con.execute("DETACH store").fetchall()
        raise UsageError(f"--store {path} is not a file path DuckDB keeps a database in")


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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
