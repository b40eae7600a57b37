"""A damaged, truncated or foreign history store file: every command that reads it exits 65
or 66 with a message naming the file and how to recover, never with DuckDB's traceback, and
``servqual ingest`` leaves the damaged file byte for byte as it was (it may be recoverable)."""

from __future__ import annotations

import json
import os
import random
import shutil

import duckdb
import pytest
from typer.testing import CliRunner

from conftest import INSTRUMENT, ROOT
from servqual.cli import app
from servqual.errors import DataError
from servqual.store.integrity import failure

runner = CliRunner()
HEADER = 3 * 4096  # DuckDB's file header: the main header and two database headers
NEW_WAVE = ROOT / "surveys" / "sample" / "2025Q2.csv"
RECOVERY = "move it aside (keep it: it may still be recoverable) and rebuild the store with " \
           "servqual ingest on the survey files (every wave's files)"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A real store of two waves, as the user's would be."""
    path = tmp_path_factory.mktemp("intact") / "servqual.duckdb"
    result = invoke("ingest", ROOT / "surveys/sample/2024Q4.csv",
                    ROOT / "surveys/sample/2025Q1.csv", "--instrument", INSTRUMENT,
                    "--store", path)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def intact(store, tmp_path_factory):
    """What trend and report answer from the intact store."""
    answer = trend_json(store)
    out = tmp_path_factory.mktemp("intact-report")
    report = invoke("report", "--store", store, "--instrument", INSTRUMENT,
                    "--out", out / "r.html", "--json", out / "r.json")
    assert report.exit_code == 0, report.output
    return answer, results_of(out / "r.json")


def trend_json(path) -> dict:
    result = invoke("trend", "--store", path, "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    answer.pop("store")
    return answer


def results_of(path) -> dict:
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc.pop("inputs", None)
    return doc


def layout(path) -> tuple[int, dict[str, set[int]]]:
    """The store's block size and the blocks each table's data lies in."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{path}' AS s (READ_ONLY)")
    size = con.execute("SELECT block_size FROM pragma_database_size() "
                       "WHERE database_name = 's'").fetchall()[0][0]
    blocks = {}
    for (table,) in con.execute("SELECT table_name FROM duckdb_tables() "
                                "WHERE database_name = 's'").fetchall():
        blocks[table] = {b for (b,) in con.execute(
            f"SELECT DISTINCT block_id FROM pragma_storage_info('s.{table}') "
            "WHERE block_id >= 0").fetchall()}
    con.close()
    return size, blocks


def block_of(path, table: str) -> int:
    """The offset of a block that holds ``table``'s data and no other table's."""
    size, blocks = layout(path)
    others = set().union(*(b for t, b in blocks.items() if t != table))
    own = sorted(blocks[table] - others)
    assert own, f"{table} shares all its blocks: pick another table"
    return HEADER + own[0] * size


def overwrite(path, offset: int, length: int = 512) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(random.Random(offset).randbytes(length))


def make_wal(path) -> None:
    """Leave a write-ahead log beside ``path``: a committed change not yet checkpointed, as
    a process that ended without closing the store leaves it."""
    con = duckdb.connect(str(path))
    con.execute("PRAGMA disable_checkpoint_on_shutdown")
    con.execute("INSERT INTO servqual_store VALUES ('note', 'a change in the log only')")
    con.close()
    assert os.path.getsize(f"{path}.wal") > 100


# --------------------------------------------------------------------------------------------
# The damage. Each returns the path to give as --store, the exit code of each command that
# must refuse it (a command not listed reads only blocks the damage left alone and answers
# as from the intact store; None: either of the two, as the blocks lie), and what the message
# says. ingest always refuses a damaged store.


def truncated_to_half(tmp_path, store):
    path = shutil.copy(store, tmp_path / "s.duckdb")
    os.truncate(path, os.path.getsize(path) // 2)
    return path, {"trend": 65, "report": 65, "ingest": 65}, RECOVERY


def truncated_to_4k(tmp_path, store):
    path = shutil.copy(store, tmp_path / "s.duckdb")
    os.truncate(path, 4096)
    return path, {"trend": 65, "report": 65, "ingest": 65}, RECOVERY


def truncated_to_nothing(tmp_path, store):
    path = shutil.copy(store, tmp_path / "s.duckdb")
    os.truncate(path, 0)
    return path, {"trend": 65, "report": 65, "ingest": 65}, RECOVERY


def garbage_in_the_main_header(tmp_path, store):
    path = shutil.copy(store, tmp_path / "s.duckdb")
    overwrite(path, 0, 64)
    return path, {"trend": 65, "report": 65, "ingest": 65}, RECOVERY


def garbage_in_a_database_header(tmp_path, store):
    path = shutil.copy(store, tmp_path / "s.duckdb")
    overwrite(path, 4096 + 40, 64)
    return path, {"trend": 65, "report": 65, "ingest": 65}, RECOVERY


def garbage_in_the_catalog(tmp_path, store):
    path = shutil.copy(store, tmp_path / "s.duckdb")
    overwrite(path, HEADER + 1000)  # block 0: the metadata (tables, columns)
    return path, {"trend": 65, "report": 65, "ingest": 65}, RECOVERY


def garbage_in_the_trend_tables(tmp_path, store):
    path = shutil.copy(store, tmp_path / "s.duckdb")
    overwrite(path, block_of(path, "trend_series") + 3000)
    return path, {"trend": 65, "ingest": 65}, RECOVERY


def garbage_in_the_moments(tmp_path, store):
    path = shutil.copy(store, tmp_path / "s.duckdb")
    overwrite(path, block_of(path, "moments") + 50_000)
    return path, {"report": 65, "ingest": 65}, RECOVERY


def garbage_in_the_respondent_rows(tmp_path, store):
    """Rows that neither trend nor report read: only ingest reads (and would rewrite) them."""
    path = shutil.copy(store, tmp_path / "s.duckdb")
    overwrite(path, block_of(path, "rows_1_1") + 100_000)
    return path, {"ingest": 65}, RECOVERY


def garbage_at_the_end(tmp_path, store):
    path = shutil.copy(store, tmp_path / "s.duckdb")
    overwrite(path, os.path.getsize(path) - 600)
    return path, {"trend": None, "report": None, "ingest": 65}, RECOVERY


def random_bytes(tmp_path, store):
    path = tmp_path / "s.duckdb"
    path.write_bytes(random.Random(1).randbytes(300_000))
    return path, {"trend": 65, "report": 65, "ingest": 65}, "not a DuckDB database file"


def a_csv_file(tmp_path, store):
    path = shutil.copy(ROOT / "surveys/sample/2024Q4.csv", tmp_path / "2024Q4.csv")
    return path, {"trend": 65, "report": 65, "ingest": 65}, "not a DuckDB database file"


def another_duckdb_database(tmp_path, store):
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE sales AS SELECT 1 AS id, 'a' AS name")
    con.close()
    return path, {"trend": 65, "report": 65, "ingest": 65}, "not a servqual history store"


def a_directory(tmp_path, store):
    path = tmp_path / "s.duckdb"
    path.mkdir()
    return path, {"trend": 66, "report": 66, "ingest": 66}, "is a directory"


def a_write_ahead_log_of_random_bytes(tmp_path, store):
    path = shutil.copy(store, tmp_path / "s.duckdb")
    (tmp_path / "s.duckdb.wal").write_bytes(random.Random(2).randbytes(5000))
    return path, {"trend": 65, "report": 65, "ingest": 65}, "write-ahead log"


def a_write_ahead_log_with_a_damaged_entry(tmp_path, store):
    path = shutil.copy(store, tmp_path / "s.duckdb")
    make_wal(path)
    log = bytearray((tmp_path / "s.duckdb.wal").read_bytes())
    log[120] ^= 0xFF  # inside the logged change: its checksum no longer matches
    (tmp_path / "s.duckdb.wal").write_bytes(bytes(log))
    return path, {"trend": 65, "report": 65, "ingest": 65}, "write-ahead log"


def the_write_ahead_log_of_another_database(tmp_path, store):
    path = shutil.copy(store, tmp_path / "s.duckdb")
    other = tmp_path / "other" / "o.duckdb"
    other.parent.mkdir()
    duckdb.connect(str(other)).execute(
        "CREATE TABLE servqual_store (key VARCHAR PRIMARY KEY, value VARCHAR)").close()
    make_wal(other)
    shutil.copy(f"{other}.wal", tmp_path / "s.duckdb.wal")
    return path, {"trend": 65, "report": 65, "ingest": 65}, "write-ahead log"


DAMAGE = [truncated_to_half, truncated_to_4k, truncated_to_nothing, garbage_in_the_main_header,
          garbage_in_a_database_header, garbage_in_the_catalog, garbage_in_the_trend_tables,
          garbage_in_the_moments, garbage_in_the_respondent_rows, garbage_at_the_end,
          random_bytes, a_csv_file, another_duckdb_database, a_directory,
          a_write_ahead_log_of_random_bytes, a_write_ahead_log_with_a_damaged_entry,
          the_write_ahead_log_of_another_database]


def snapshot(path) -> tuple:
    """The bytes of the store and of its write-ahead log (None: no such file)."""
    def read(p):
        return p.read_bytes() if p.is_file() else None
    return read(path), read(path.with_name(path.name + ".wal"))


def refused(result, code: int, path, hint: str) -> None:
    message = " ".join(result.output.split())
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert message.startswith(f"servqual: error: {path}: "), message
    assert hint in message, message
    if code == 65:
        assert "rebuild the store with servqual ingest on the survey files" in message, message


def answered_or_refused(result, expected: int | None, path, hint: str) -> bool:
    """True when the command answered (exit 0); else it refused as expected."""
    if expected is None and result.exit_code == 0:
        return True
    if expected is None:
        expected = 65
    refused(result, expected, path, hint)
    return False


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__)
def test_a_damaged_store_crashed_trend_ingest_and_report(damage, store, intact, tmp_path):
    path, refusing, hint = damage(tmp_path, store)
    answer, results = intact
    before = snapshot(path)
    for args in (["trend", "--store", path], ["trend", "--store", path, "--json"]):
        result = invoke(*args)
        if "trend" not in refusing:
            assert result.exit_code == 0, result.output
        elif answered_or_refused(result, refusing["trend"], path, hint):
            assert trend_json(path) == answer  # what it read is intact: the same answer
    if "trend" not in refusing:
        assert trend_json(path) == answer
    report = invoke("report", "--store", path, "--instrument", INSTRUMENT,
                    "--out", tmp_path / "r.html", "--json", tmp_path / "r.json")
    if "report" not in refusing or answered_or_refused(report, refusing["report"], path, hint):
        assert report.exit_code == 0, report.output
        assert results_of(tmp_path / "r.json") == results
    else:
        assert not (tmp_path / "r.html").exists() and not (tmp_path / "r.json").exists()
    ingest = invoke("ingest", NEW_WAVE, "--instrument", INSTRUMENT, "--store", path)
    refused(ingest, refusing["ingest"], path, hint)
    assert snapshot(path) == before, "the damaged store was changed"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_store_without_read_permission_crashed_the_commands(store, tmp_path):
    path = shutil.copy(store, tmp_path / "s.duckdb")
    path.chmod(0)
    try:
        for args in (["trend", "--store", path], ["trend", "--store", path, "--json"],
                     ["report", "--store", path, "--instrument", INSTRUMENT,
                      "--out", tmp_path / "r.html"],
                     ["ingest", NEW_WAVE, "--instrument", INSTRUMENT, "--store", path]):
            refused(invoke(*args), 66, path, "cannot be read")
    finally:
        path.chmod(0o600)
    assert path.read_bytes() == store.read_bytes()


def test_a_write_ahead_log_cut_short_by_a_crash_is_not_damage(store, tmp_path):
    """A log whose last entry was cut short is what a crash during a commit leaves: DuckDB
    keeps what was committed before it, and so does servqual (no error)."""
    path = shutil.copy(store, tmp_path / "s.duckdb")
    make_wal(path)
    wal = tmp_path / "s.duckdb.wal"
    os.truncate(wal, wal.stat().st_size - 20)
    assert invoke("trend", "--store", path, "--json").exit_code == 0
    result = invoke("ingest", NEW_WAVE, "--instrument", INSTRUMENT, "--store", path)
    assert result.exit_code == 0, result.output
    assert trend_json(path)["waves"] == ["2024Q4", "2025Q1", "2025Q2"]


def test_a_bug_in_a_store_query_is_still_a_bug(store, monkeypatch):
    """Only errors about the file become exit 65: a mistake in servqual's own SQL keeps its
    traceback (exit 1)."""
    import servqual.store.trend as trend

    monkeypatch.setattr(trend, "SERIES_FIELDS", trend.SERIES_FIELDS + ["no_such_column"])
    result = invoke("trend", "--store", store, "--json")
    assert result.exit_code == 1
    assert isinstance(result.exception, duckdb.BinderException)


@pytest.mark.parametrize("error, damage", [
    (duckdb.Error("Corrupt database file: computed checksum 1 does not match stored checksum "
                  "2 in block at location 4096"), True),
    (duckdb.SerializationException("Serialization Error: Failed to deserialize: field id "
                                   "mismatch"), True),
    (duckdb.CatalogException("Catalog Error: Table with name nope does not exist!"), False),
    (duckdb.InvalidInputException("Invalid Input Error: Values were not provided for the "
                                  "following prepared statement parameters: 1"), False),
    (duckdb.BinderException('Binder Error: Referenced column "x" not found'), False),
    (duckdb.ParserException("Parser Error: syntax error at or near \"SELEC\""), False),
])
def test_which_duckdb_errors_are_the_files(error, damage, tmp_path):
    mapped = failure(tmp_path / "s.duckdb", error, write=False)
    assert isinstance(mapped, DataError) if damage else mapped is None


@pytest.mark.parametrize("error", [
    # a store in a folder that cannot be written: the commit cannot create the log (this
    # was a traceback), and opening a new or read-only store (this said "damaged, rebuild")
    duckdb.TransactionException('TransactionContext Error: Failed to commit: Cannot open file '
                                '"{store}.wal": Operation not permitted'),
    duckdb.IOException('IO Error: Cannot open file "{store}": Operation not permitted'),
    duckdb.IOException('IO Error: Cannot open file "{store}": Read-only file system'),
    duckdb.IOException('IO Error: Cannot open file "{store}": Permission denied'),
])
def test_a_store_that_cannot_be_written_is_exit_73_not_damaged(error, tmp_path):
    from servqual.errors import OutputError
    store = (tmp_path / "s.duckdb").absolute()
    error = type(error)(str(error).replace("{store}", str(store)))
    mapped = failure(tmp_path / "s.duckdb", error, write=True)
    assert isinstance(mapped, OutputError) and mapped.exit_code == 73
    assert "must be writable" in mapped.message and "damaged" not in mapped.message
    # and a transaction error that is not about the file is not blamed on it
    assert failure(store, duckdb.TransactionException(
        "TransactionContext Error: Conflict on tuple deletion"), write=True) is None
