"""The history store: ingest, replace without double counting, report from the store,
respondent rows and quarantine kept, instrument structure, schema versions, crashes, locks."""

from __future__ import annotations

import json
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import INSTRUMENT, ROOT, SAMPLE
from fixtures import (TINY_CSV, assert_same_aggregates, check_files, replace_in_instrument, tiny,
                      write)
from servqual.cli import app
from servqual.instrument import load_instrument
from servqual.responses import Responses, importance_column
from servqual.stats.aggregate import aggregate
from servqual.store.history import Store

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def store_copy(sample_store, tmp_path):
    path = tmp_path / "servqual.duckdb"
    shutil.copy(sample_store, path)
    return path


def close_enough(x, y, path="$"):
    """JSON documents equal up to float rounding, lists in the same order."""
    if isinstance(x, dict) and isinstance(y, dict):
        assert set(x) == set(y), (path, set(x) ^ set(y))
        for k in x:
            close_enough(x[k], y[k], f"{path}.{k}")
    elif isinstance(x, list) and isinstance(y, list):
        assert len(x) == len(y), path
        for i, (a, b) in enumerate(zip(x, y)):
            close_enough(a, b, f"{path}[{i}]")
    elif isinstance(x, float) and isinstance(y, float):
        assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12), (path, x, y)
    else:
        assert x == y, (path, x, y)


def report_json(tmp_path, *args) -> dict:
    out = tmp_path / "r.html"
    js = tmp_path / "r.json"
    result = invoke("report", *args, "--instrument", INSTRUMENT, "--out", out, "--json", js)
    assert result.exit_code == 0, result.output
    doc = json.loads(js.read_text(encoding="utf-8"))
    doc.pop("inputs", None)
    return doc


def dump(path) -> dict:
    """Everything a store holds, in comparable form (None: no store file)."""
    if not path.exists():
        return None
    con = duckdb.connect()
    con.execute(f"ATTACH '{path}' AS s (READ_ONLY)")
    out = {}
    for (table,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE "
                                "database_name = 's' ORDER BY 1").fetchall():
        out[table] = con.execute(f'SELECT * FROM s."{table}" ORDER BY ALL').fetchall()
    con.close()
    return out


# --------------------------------------------------------------------------------------------
# What the store answers


def test_report_from_the_store_equals_report_from_the_files(sample_store, tmp_path):
    from_files = report_json(tmp_path / "files", *SAMPLE)
    from_store = report_json(tmp_path / "store", "--store", sample_store)
    close_enough(from_store, from_files)
    assert from_store["data_quality"]["rows_read"] == 12021


def test_new_file_with_the_history_from_the_store(tmp_path):
    """Seven waves stored, the latest given as a file: the report is the eight-wave report."""
    store = tmp_path / "s.duckdb"
    assert invoke("ingest", *SAMPLE[:-1], "--instrument", INSTRUMENT,
                  "--store", store).exit_code == 0
    combined = report_json(tmp_path / "a", SAMPLE[-1], "--store", store)
    close_enough(combined, report_json(tmp_path / "b", *SAMPLE))
    # The latest file's quarantine is written beside the report, the stored ones stay stored.
    rejected = pd.read_csv(tmp_path / "a" / "r.rejected.csv", encoding="utf-8-sig")
    assert set(rejected["source_file"]) == {str(SAMPLE[-1])}


def test_files_covering_every_stored_wave_need_nothing_from_the_store(tmp_path):
    """Ingest this quarter, then report it with the store: the file replaces the one stored
    wave, and the report is the file's own."""
    store = tmp_path / "s.duckdb"
    assert invoke("ingest", SAMPLE[-1], "--instrument", INSTRUMENT,
                  "--store", store).exit_code == 0
    close_enough(report_json(tmp_path / "a", SAMPLE[-1], "--store", store),
                 report_json(tmp_path / "b", SAMPLE[-1]))


def test_a_file_replaces_its_stored_wave_in_the_report(store_copy, tmp_path):
    changed = tmp_path / "2026Q3.csv"
    lines = SAMPLE[-1].read_text(encoding="utf-8").splitlines()
    changed.write_text("\n".join(lines[:501]) + "\n", encoding="utf-8")  # 500 respondents
    doc = report_json(tmp_path / "r", changed, "--store", store_copy)
    expected = report_json(tmp_path / "e", *SAMPLE[:-1], changed)
    close_enough(doc, expected)
    assert doc["data_quality"]["rows_read"] == 12021 - 1520 + 500


def test_reingesting_a_wave_replaces_it_and_never_double_counts(store_copy, tmp_path):
    before = dump(store_copy)
    for _ in range(2):
        result = invoke("ingest", SAMPLE[-1], "--instrument", INSTRUMENT, "--store", store_copy)
        assert result.exit_code == 0, result.output
        assert "replaced wave 2026Q3" in result.stdout
    after = dump(store_copy)
    for table in ("moments", "histograms", "crossproducts", "importance", "quarantine",
                  "trend_series", "trend_fits"):
        if table == "quarantine":  # the ingest number changes
            strip = [r[:1] + r[2:] for r in after[table]], [r[:1] + r[2:] for r in before[table]]
            assert sorted(strip[0], key=str) == sorted(strip[1], key=str)
        else:  # the same rows; sums of fractions may differ in the last bit (parallel sums)
            assert len(after[table]) == len(before[table]), table

            def fixed(rows):
                return [tuple(v for v in r if not isinstance(v, float)) for r in rows]

            def floats(rows):  # aligned once the other values are equal row by row
                return np.array([v for r in rows for v in r if isinstance(v, float)], float)
            assert fixed(after[table]) == fixed(before[table]), table
            # p-values near 1e-250 amplify the last bit of a mean: absolute tolerance
            np.testing.assert_allclose(floats(after[table]), floats(before[table]),
                                       rtol=1e-9, atol=1e-12, err_msg=table)
    rows_tables = [t for t in after if t.startswith("rows_")]
    assert len(rows_tables) == 8  # the replaced wave's old rows are gone
    with Store.open(store_copy) as store:
        assert len(store.waves()) == 8
        assert len(store.respondents("2026Q3")) == 1512
        n = store.con.execute("SELECT n FROM store.moments WHERE wave = '2026Q3' AND "
                              "segment = '' AND id = 'respondents'").fetchall()
        assert n == [(1512,)]


def test_reingesting_changed_data_changes_the_wave(store_copy, tmp_path):
    changed = tmp_path / "2026Q3.csv"
    lines = SAMPLE[-1].read_text(encoding="utf-8").splitlines()
    changed.write_text("\n".join(lines[:301]) + "\n", encoding="utf-8")
    assert invoke("ingest", changed, "--instrument", INSTRUMENT,
                  "--store", store_copy).exit_code == 0
    with Store.open(store_copy) as store:
        assert len(store.respondents("2026Q3")) == 300
        waves = store.waves().set_index("wave")
        assert waves.loc["2026Q3", "respondents"] == 300
        assert json.loads(waves.loc["2026Q3", "files"]) == [str(changed)]
        assert len(store.quarantine("2026Q3")) == 0


def test_respondent_rows_are_the_analysed_rows(sample_store):
    """Aggregating the stored rows of a wave again gives the stored aggregates of that wave."""
    inst = load_instrument(INSTRUMENT)
    with Store.open(sample_store) as store:
        rows = store.respondents("2025Q2")
        stored = store.aggregates(["2025Q2"], inst)
    meta = rows[[c for c in rows.columns if not c.startswith(("e:", "p:"))]].copy()
    for c in inst.segments:
        meta[c] = meta[c].astype("category")
    responses = Responses(
        item_ids=inst.item_ids, meta=meta, segments=tuple(inst.segments),
        expectation=rows[[f"e:{i}" for i in inst.item_ids]].to_numpy(dtype=np.float32),
        perception=rows[[f"p:{i}" for i in inst.item_ids]].to_numpy(dtype=np.float32))
    assert importance_column("reliability") in meta
    again = aggregate(responses, inst)
    # key-driver bootstrap replicates are summed for the latest wave of an ingest only
    # (stats.drivers): 2025Q2 was stored with later waves, so it has its sample sums alone
    replicates = again.crossproducts["kind"].str.startswith("driver:") & (
        again.crossproducts["id"] != "0")
    assert replicates.any() and not (stored.crossproducts["kind"].str.startswith("driver:")
                                     & (stored.crossproducts["id"] != "0")).any()
    again.crossproducts = again.crossproducts[~replicates].reset_index(drop=True)
    assert_same_aggregates(again, stored)


def test_quarantine_is_kept_with_its_wave(sample_store):
    with Store.open(sample_store) as store:
        q = store.quarantine("2024Q4")
    assert len(q) == 8
    assert set(q["reason"]) == {"missing_respondent_id", "non_numeric", "out_of_scale",
                                "all_missing", "duplicate_conflict", "duplicate_respondent"}
    record = json.loads(q[q["reason"] == "non_numeric"]["record"].iloc[0])
    assert record["respondent_id"].endswith("-x2")


# --------------------------------------------------------------------------------------------
# One instrument structure per store


def test_another_instrument_structure_is_refused_with_what_differs(store_copy, tmp_path):
    text = INSTRUMENT.read_text(encoding="utf-8").replace("min_item_share = 0.5",
                                                          "min_item_share = 0.6")
    other = write(tmp_path / "other.toml", text)
    result = invoke("ingest", SAMPLE[0], "--instrument", other, "--store", store_copy)
    assert result.exit_code == 65
    assert "2025Q1" in result.output and "min_item_share 0.5 → 0.6" in result.output
    report = invoke("report", "--store", store_copy, "--instrument", other,
                    "--out", tmp_path / "r.html")
    assert report.exit_code == 65 and "min_item_share" in report.output
    assert not (tmp_path / "r.html").exists()


def test_new_wording_is_not_a_new_structure(store_copy, tmp_path):
    text = INSTRUMENT.read_text(encoding="utf-8").replace("SERVQUAL 22 items (PZB 1991)",
                                                          "Customer survey 2026")
    reworded = write(tmp_path / "reworded.toml", text)
    result = invoke("ingest", SAMPLE[-1], "--instrument", reworded, "--store", store_copy)
    assert result.exit_code == 0, result.output


def test_a_wave_with_no_valid_row_is_not_stored_and_its_rejects_not_repeated(tmp_path):
    """A file whose 2026Q3 rows are all rejected: 2026Q2 is added, 2026Q3 is said not to be
    stored, and ingesting the file again keeps one copy of its rejected row."""
    inst = write(tmp_path / "instrument.toml",
                 replace_in_instrument("segments", 'wave = "wave"\nsegments'))
    data = write(tmp_path / "f.csv", "id,wave,region,E1,E2,E3,P1,P2,P3\n"
                 "r1,2026Q2,East,4,5,3,3,5,4\nr2,2026Q2,West,5,4,2,2,3,2\n"
                 "r3,2026Q3,East,7,4,2,2,3,2\n")
    store = tmp_path / "s.duckdb"
    for verb in ("added", "replaced"):
        result = invoke("ingest", data, "--instrument", inst, "--store", store)
        assert result.exit_code == 0, result.output
        assert f"{verb} wave 2026Q2" in result.output
        assert "wave 2026Q3: no valid rows, not stored" in result.output
        assert "added wave 2026Q3" not in result.output
    with Store.open(store) as s:
        assert list(s.waves()["wave"]) == ["2026Q2"]
        q = s.quarantine()
    assert list(zip(q["wave"], q["source_row"], q["reason"])) == [("2026Q3", 4, "out_of_scale")]


def test_an_all_quarantined_file_leaves_the_store_alone(store_copy, tmp_path):
    before = dump(store_copy)
    header = SAMPLE[0].read_text(encoding="utf-8").splitlines()[0]
    # every answer 8 on the 1–7 scale (the row as wide as the header, whatever it holds)
    bad = write(tmp_path / "2026Q4.csv", header + "\n" + "x1" + ",核心,East,网络"
                + ",8" * (header.count(",") - 3) + "\n")
    result = invoke("ingest", bad, "--instrument", INSTRUMENT, "--store", store_copy)
    assert result.exit_code == 65 and "out_of_scale" in result.output
    assert dump(store_copy) == before


# --------------------------------------------------------------------------------------------
# Versions and wrong files


def test_a_store_from_a_newer_servqual_is_refused(store_copy, tmp_path):
    con = duckdb.connect(str(store_copy))
    con.execute("UPDATE servqual_store SET value = '99' WHERE key = 'schema_version'")
    con.close()
    for args in (("trend", "--store", store_copy),
                 ("ingest", SAMPLE[0], "--instrument", INSTRUMENT, "--store", store_copy),
                 ("report", "--store", store_copy, "--instrument", INSTRUMENT,
                  "--out", tmp_path / "r.html")):
        result = invoke(*args)
        assert result.exit_code == 65, result.output
        assert "newer servqual" in result.output and "schema version 99" in result.output


def test_the_store_records_its_schema_version(sample_store):
    con = duckdb.connect(str(sample_store), read_only=True)
    assert con.execute("SELECT value FROM servqual_store WHERE key = 'schema_version'"
                       ).fetchall() == [("3",)]
    con.close()


def test_a_store_without_a_schema_version_is_refused(tmp_path):
    path = tmp_path / "noversion.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE servqual_store (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.close()
    result = invoke("trend", "--store", path)
    assert result.exit_code == 65, result.output
    assert "without a valid schema version" in result.output


def test_files_that_are_not_stores(tmp_path):
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE t AS SELECT 1 AS a")
    con.close()
    garbage = write(tmp_path / "garbage.duckdb", "not a database at all\n" * 100)
    for path in (other, garbage):
        result = invoke("trend", "--store", path)
        assert result.exit_code == 65 and "not a servqual history store" in result.output
        result = invoke("ingest", SAMPLE[0], "--instrument", INSTRUMENT, "--store", path)
        assert result.exit_code == 65
    missing = invoke("trend", "--store", tmp_path / "none.duckdb")
    assert missing.exit_code == 66 and "servqual ingest" in missing.output
    assert not (tmp_path / "none.duckdb").exists()


# --------------------------------------------------------------------------------------------
# Crashes and concurrent writers

HOLD = textwrap.dedent("""
    # An ingest that stops inside its transaction (after writing everything, before the
    # commit) until it is killed or told to go on.
    import sys
    from pathlib import Path
    import servqual.store.write as write
    from servqual.instrument import load_instrument

    real = write.rebuild_trends

    def held(store):
        real(store)
        print("IN_TRANSACTION", flush=True)
        sys.stdin.readline()

    write.rebuild_trends = held
    store, instrument, *files = sys.argv[1:]
    write.ingest_files([Path(f) for f in files], load_instrument(instrument), Path(store))
    print("DONE", flush=True)
""")


def hold_ingest(store, files):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(store), str(INSTRUMENT),
                             *map(str, files)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    line = proc.stdout.readline()
    assert line.strip() == "IN_TRANSACTION", (line, proc.stderr)
    return proc


def test_killed_in_the_middle_of_an_ingest_the_store_is_as_before(store_copy, tmp_path):
    changed = tmp_path / "2026Q3.csv"
    lines = SAMPLE[-1].read_text(encoding="utf-8").splitlines()
    changed.write_text("\n".join(lines[:200]) + "\n", encoding="utf-8")
    before = dump(store_copy)
    with hold_ingest(store_copy, [changed, SAMPLE[0]]) as proc:  # closes its pipes after
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert dump(store_copy) == before
    # Still a working store.
    assert invoke("trend", "--store", store_copy, "--json").exit_code == 0


def test_killed_at_any_moment_the_store_is_before_or_after(store_copy, tmp_path):
    """The real command killed at several moments: never anything in between."""
    changed = tmp_path / "2026Q3.csv"
    lines = SAMPLE[-1].read_text(encoding="utf-8").splitlines()
    changed.write_text("\n".join(lines[:400]) + "\n", encoding="utf-8")
    before = dump(store_copy)
    done = tmp_path / "done.duckdb"
    shutil.copy(store_copy, done)
    command = [sys.executable, "-m", "servqual", "ingest", str(changed), "--instrument",
               str(INSTRUMENT), "--store"]
    subprocess.run(command + [str(done)], check=True, capture_output=True, cwd=ROOT)
    after = dump(done)
    assert after != before
    for delay in (0.8, 1.6, 2.4, 3.2):
        victim = tmp_path / f"victim-{delay}.duckdb"
        shutil.copy(store_copy, victim)
        proc = subprocess.Popen(command + [str(victim)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd=ROOT)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = dump(victim)
        state.pop("ingests")
        after_state = {k: v for k, v in after.items() if k != "ingests"}
        before_state = {k: v for k, v in before.items() if k != "ingests"}
        assert _same_but_ingest_numbers(state, before_state) or \
            _same_but_ingest_numbers(state, after_state), delay


def _same_but_ingest_numbers(a: dict, b: dict) -> bool:
    """Equal stores, except for ingest numbers and times (they differ run to run)."""
    if set(a) - {t for t in a if t.startswith("rows_")} != \
            set(b) - {t for t in b if t.startswith("rows_")}:
        return False
    for table in a:
        if table.startswith("rows_"):
            continue
        x, y = a[table], b[table]
        if table in ("waves", "quarantine"):
            drop = (1, 9) if table == "waves" else (1,)
            x = sorted([tuple(v for i, v in enumerate(r) if i not in drop) for r in x], key=str)
            y = sorted([tuple(v for i, v in enumerate(r) if i not in drop) for r in y], key=str)
        if not _rows_close(x, y):
            return False
    rows_a = sorted(v for t, v in a.items() if t.startswith("rows_"))
    rows_b = sorted(v for t, v in b.items() if t.startswith("rows_"))
    return rows_a == rows_b


def _rows_close(x: list[tuple], y: list[tuple]) -> bool:
    """Rows equal, floats up to their last bits: DuckDB adds sums of ratios in parallel, so two
    ingests of the same file may differ there)."""
    if len(x) != len(y):
        return False
    for r, s in zip(x, y):
        if len(r) != len(s):
            return False
        for u, v in zip(r, s):
            if isinstance(u, float) and isinstance(v, float):
                if not math.isclose(u, v, rel_tol=1e-12, abs_tol=1e-12) \
                        and not (math.isnan(u) and math.isnan(v)):
                    return False
            elif u != v:
                return False
    return True


def test_two_ingests_at_once_one_waits_or_fails_clearly(store_copy, tmp_path):
    proc = hold_ingest(store_copy, [SAMPLE[0]])
    try:
        started = time.monotonic()
        result = invoke("ingest", SAMPLE[1], "--instrument", INSTRUMENT, "--store", store_copy,
                        "--wait", "1")
        assert result.exit_code == 73, result.output
        assert "in use by process" in result.output and "--wait" in result.output
        assert time.monotonic() - started >= 1
        trend = invoke("trend", "--store", store_copy, "--wait", "0")
        assert trend.exit_code == 66 and "in use" in trend.output
        # A second writer that waits long enough gets its turn once the first commits.
        waiter = subprocess.Popen(
            [sys.executable, "-m", "servqual", "ingest", str(SAMPLE[1]), "--instrument",
             str(INSTRUMENT), "--store", str(store_copy), "--wait", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        ready, _, _ = select.select([waiter.stderr], [], [], 120)
        told = waiter.stderr.readline() if ready else ""
        assert "waiting for" in told and "in use by process" in told
    finally:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    assert proc.stdout.readline().strip() == "DONE"
    with proc:  # waits for it and closes its pipes
        pass
    out, err = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, err
    with Store.open(store_copy) as store:
        assert len(store.waves()) == 8
        assert store.con.execute("SELECT count(*) FROM store.ingests").fetchall() == [(3,)]


def test_ingest_validates_like_the_in_memory_path(tmp_path):
    """The store's row accounting per wave adds up to the in-memory path's for the files."""
    inst_path, data = tiny(tmp_path, csv=TINY_CSV + "r9,East,8,8,8,8,8,8\nr1,East,4,5,3,3,5,4\n")
    store = tmp_path / "s.duckdb"
    assert invoke("ingest", data, "--instrument", inst_path, "--store", store).exit_code == 0
    inst = load_instrument(inst_path)
    validated = check_files([data], inst)
    with Store.open(store) as st:
        aggregates, quality, _ = st.load(inst)
    assert quality.rows_read == validated.quality.rows_read == 6
    assert quality.quarantine_reasons == validated.quality.quarantine_reasons
    assert_same_aggregates(aggregate(validated.responses, inst), aggregates)


def test_a_failed_first_ingest_leaves_no_store_behind(tmp_path, monkeypatch):
    import servqual.store.write as write

    store = tmp_path / "new.duckdb"

    def failing(*args, **kwargs):  # the store file and its schema exist now: the write fails
        raise OSError("disk full")

    monkeypatch.setattr(write, "write_waves", failing)
    with pytest.raises(OSError):
        write.ingest_files([SAMPLE[0]], load_instrument(INSTRUMENT), store)
    assert not store.exists() and not (tmp_path / "new.duckdb.wal").exists()


def test_a_failed_ingest_never_removes_a_store_it_did_not_create(tmp_path, monkeypatch):
    """A first ingest that loses the race to create the store (another process created and
    filled it first) and then fails keeps the other process's store."""
    import servqual.store.write as write

    store = tmp_path / "new.duckdb"
    original = Store.attach_for_writing

    def other_process_first(con, path, **kwargs):
        subprocess.run([sys.executable, "-m", "servqual", "ingest", str(SAMPLE[1]),
                        "--instrument", str(INSTRUMENT), "--store", str(path)],
                       check=True, capture_output=True, cwd=ROOT)
        return original(con, path, **kwargs)

    monkeypatch.setattr(Store, "attach_for_writing", other_process_first)
    monkeypatch.setattr(write, "write_waves",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        write.ingest_files([SAMPLE[0]], load_instrument(INSTRUMENT), store)
    assert store.exists()
    result = invoke("trend", "--store", store, "--json")
    assert result.exit_code == 0 and "2025Q1" in result.output


def test_a_version_1_store_of_weighted_waves_is_migrated(tmp_path):
    """A store written before the moments kept Σw²·x, Σw²·x² (schema 1): readers ask for an
    ingest; an ingest adds the columns, keeps the old wave (its weighted standard errors from
    Kish's effective n) and stores the new wave's sums."""
    instrument = replace_in_instrument('segments = ["region"]',
                                       'segments = ["region"]\nsampling_weight = "weight"')
    rows = TINY_CSV.strip().splitlines()
    weighted = "\n".join([rows[0] + ",weight"] + [r + f",{w}" for r, w in
                                                   zip(rows[1:], (1, 2, 0.5, 1.5))]) + "\n"
    inst, first = tiny(tmp_path, csv=weighted, name="2026Q1.csv", instrument=instrument)
    second = write(tmp_path / "2026Q2.csv", weighted)
    store = tmp_path / "s.duckdb"
    assert invoke("ingest", first, "--instrument", inst, "--store", store).exit_code == 0
    con = duckdb.connect(str(store))
    con.execute("ALTER TABLE moments DROP COLUMN w2sum")
    con.execute("ALTER TABLE moments DROP COLUMN w2sumsq")
    con.execute("ALTER TABLE crossproducts DROP COLUMN w")  # version 3's
    con.execute("UPDATE servqual_store SET value = '1' WHERE key = 'schema_version'")
    con.close()
    out = tmp_path / "r.html"
    result = invoke("report", "--store", store, "--instrument", inst, "--out", out)
    assert result.exit_code == 65 and "migrate it to version 3" in result.output
    result = invoke("ingest", second, "--instrument", inst, "--store", store)
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(store), read_only=True)
    assert con.execute("SELECT value FROM servqual_store WHERE key = 'schema_version'"
                       ).fetchall() == [("3",)]
    kept = dict(con.execute("SELECT wave, count(w2sum) FROM moments GROUP BY wave").fetchall())
    con.close()
    assert kept["2026Q1"] == 0 and kept["2026Q2"] > 0
    js = tmp_path / "r.json"
    result = invoke("report", "--store", store, "--instrument", inst, "--out", out,
                    "--json", js)
    assert result.exit_code == 0, result.output
    doc = json.loads(js.read_text(encoding="utf-8"))
    old = [r for r in doc["by_wave"] if r["wave"] == "2026Q1" and r["dimension"] == "alpha"][0]
    new = [r for r in doc["by_wave"] if r["wave"] == "2026Q2" and r["dimension"] == "alpha"][0]
    assert old["gap_ci95_low"] is not None and new["gap_ci95_low"] is not None
    assert old["gap_mean"] == pytest.approx(new["gap_mean"])


def test_a_version_2_store_keeps_its_key_drivers_through_the_migration(tmp_path):
    """A store written before the cross-products kept their Σ weights (schema 2): readers ask
    for an ingest; the ingest (here of an earlier wave) gives the stored sums w = n (they
    were unweighted), and the current wave's key drivers, intervals included, are what the
    store reported before."""
    from fixtures import TINY_INSTRUMENT
    from test_drivers import SATISFACTION, tiny_survey

    inst = write(tmp_path / "i.toml", TINY_INSTRUMENT + SATISFACTION)
    current = write(tmp_path / "2026Q1.csv", tiny_survey(12))
    earlier = write(tmp_path / "2025Q4.csv", tiny_survey(13))
    store = tmp_path / "s.duckdb"
    assert invoke("ingest", current, "--instrument", inst, "--store", store).exit_code == 0

    def drivers():
        js = tmp_path / "r.json"
        result = invoke("report", "--store", store, "--instrument", inst,
                        "--out", tmp_path / "r.html", "--json", js)
        assert result.exit_code == 0, result.output
        return json.loads(js.read_text(encoding="utf-8"))["key_drivers"]

    before = drivers()
    assert before and all(r["ci95_low"] is not None for r in before)
    con = duckdb.connect(str(store))
    con.execute("ALTER TABLE crossproducts DROP COLUMN w")
    con.execute("UPDATE servqual_store SET value = '2' WHERE key = 'schema_version'")
    con.close()
    result = invoke("report", "--store", store, "--instrument", inst, "--out", tmp_path / "x.html")
    assert result.exit_code == 65 and "migrate it to version 3" in result.output
    result = invoke("ingest", earlier, "--instrument", inst, "--store", store)
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(store), read_only=True)
    assert con.execute("SELECT count(*) FROM crossproducts WHERE w IS DISTINCT FROM n"
                       ).fetchall() == [(0,)]
    con.close()
    assert drivers() == before


@pytest.mark.parametrize("label", ["2026-Q3", "2026年第3季度", "２０２６Ｑ３"])
def test_a_quarter_spelled_another_way_is_refused_not_counted_twice(tmp_path, label):
    # 2026-Q3 and 2026Q3 are one quarter: stored as two waves, its respondents counted
    # twice in the trend, and the spelling that sorted last became the current wave.
    inst, first = tiny(tmp_path, name="2026Q3.csv")
    again = tmp_path / f"{label}.csv"
    shutil.copy(first, again)
    store = tmp_path / "s.duckdb"
    assert invoke("ingest", first, "--instrument", inst, "--store", store).exit_code == 0
    result = invoke("ingest", again, "--instrument", inst, "--store", store)
    assert result.exit_code == 65, result.output
    assert f"the wave labels '2026Q3' and {label!r} name the same quarter" in result.output
    assert "the history store holds '2026Q3'" in result.output
    assert list(Store.open(store).waves()["wave"]) == ["2026Q3"]
    # files alone, one run: the same error
    result = invoke("report", first, again, "--instrument", inst, "--out", tmp_path / "r.html")
    assert result.exit_code == 65, result.output
    assert "name the same quarter" in result.output
    assert not (tmp_path / "r.html").exists()


def test_the_store_accounts_for_a_wave_none_of_whose_rows_was_valid(tmp_path):
    # Ingest keeps such a wave's rejected rows but not the wave; report --store then counted
    # 2 rows read where report over the files counted 4 (its out_of_scale rows vanished).
    inst, good = tiny(tmp_path, name="2026Q2.csv")
    _, bad = tiny(tmp_path, csv="id,region,E1,E2,E3,P1,P2,P3\nr1,East,8,8,8,8,8,8\n"
                  "r2,West,7,7,7,7,7,7\n", name="2026Q3.csv")
    store = tmp_path / "s.duckdb"
    assert invoke("ingest", good, bad, "--instrument", inst, "--store", store).exit_code == 0

    def quality(*args):
        js = tmp_path / "r.json"
        result = invoke("report", *args, "--instrument", inst, "--out", tmp_path / "r.html",
                        "--json", js)
        assert result.exit_code == 0, result.output
        q = json.loads(js.read_text(encoding="utf-8"))["data_quality"]
        return ({k: q[k] for k in ("rows_read", "rows_valid", "rows_quarantined",
                                   "quarantine_reasons")},
                sorted((f["file"], f["rows_read"], f["rows_quarantined"]) for f in q["files"]))

    files = quality(good, bad)
    assert files[0]["rows_read"] == 6 and files[0]["quarantine_reasons"]["out_of_scale"] == 2
    assert quality("--store", store) == files
    assert quality(bad, "--store", store) == files  # the file read again is not counted twice
