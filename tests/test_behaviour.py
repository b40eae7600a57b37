"""Loyalty in behaviour: a CRM extract joined to the respondents by id (servqual.behaviour),
through the command line. The join is checked against pandas' own merge of the same files;
the satisfaction–loyalty matrix by behaviour against a hand count; mistakes in the extract
against their exit codes and messages."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fixtures import TINY_INSTRUMENT
from servqual.cli import app

BEHAVIOUR = """
[behaviour]
id = "customer"
{wave}

[outcomes.satisfaction]
column = "sat"
scale_min = 1
scale_max = 7

[outcomes.repeat_purchases]
column = "orders"
scale_min = 0
scale_max = 100
high_from = 3
"""
WAVES = ["2025Q1", "2025Q2"]


def _survey(tmp_path, n: int = 80, seed: int = 5) -> list[str]:
    """Two waves of n respondents (ids 0…n−1 in each: the same customers asked again)."""
    rng = np.random.default_rng(seed)
    paths = []
    for wave in WAVES:
        frame = pd.DataFrame({"id": np.arange(n), "region": np.where(np.arange(n) % 2, "East",
                                                                     "West")})
        for c in ("E1", "E2", "E3"):
            frame[c] = rng.integers(3, 6, n)
        for c in ("P1", "P2", "P3"):
            frame[c] = rng.integers(1, 6, n)
        frame["sat"] = rng.integers(1, 8, n)
        path = tmp_path / f"{wave}.csv"
        frame.to_csv(path, index=False)
        paths.append(str(path))
    return paths


def _instrument(tmp_path, wave_column: str = "") -> str:
    path = tmp_path / "instrument.toml"
    wave = f'wave = "{wave_column}"' if wave_column else ""
    path.write_text(TINY_INSTRUMENT + BEHAVIOUR.format(wave=wave), encoding="utf-8")
    return str(path)


def _report(tmp_path, paths, instrument, crm, *extra):
    out = tmp_path / "r.json"
    args = ["report", *paths, "--instrument", instrument, "--out", str(tmp_path / "r.html"),
            "--json", str(out), *extra]
    if crm is not None:
        args += ["--behaviour", str(crm)]
    return CliRunner().invoke(app, args), out


def test_the_join_matches_pandas_merge_of_the_same_files(tmp_path):
    paths = _survey(tmp_path)
    rng = np.random.default_rng(9)
    # 60 of the 80 customers in the CRM, in another order; one record without an id and one
    # value that is not a count.
    ids = rng.permutation(80)[:60]
    crm = pd.DataFrame({"customer": ids.astype(str), "orders": rng.integers(0, 9, 60)
                        .astype(str)})
    crm.loc[3, "orders"] = "many"
    crm = pd.concat([crm, pd.DataFrame({"customer": [""], "orders": ["4"]})])
    crm_path = tmp_path / "crm.csv"
    crm.to_csv(crm_path, index=False)
    result, out = _report(tmp_path, paths, _instrument(tmp_path), crm_path)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))

    expected = pd.read_csv(paths[-1]).merge(
        crm[crm["customer"] != ""].assign(customer=lambda f: f["customer"].astype(int),
                                          orders=lambda f: pd.to_numeric(f["orders"],
                                                                         errors="coerce")),
        left_on="id", right_on="customer", how="left")
    row = [r for r in doc["loyalty"]["outcomes"]
           if r["wave"] == WAVES[-1] and r["outcome"] == "repeat_purchases"][0]
    assert row["source"] == "behaviour"
    assert row["n"] == expected["orders"].notna().sum() == 59
    assert row["respondents"] == 80
    assert row["mean"] == pytest.approx(expected["orders"].mean())
    assert row["sd"] == pytest.approx(expected["orders"].std(ddof=1))
    quality = doc["data_quality"]["behaviour"]
    assert quality["records"] == 61 and quality["blank_ids"] == 1
    assert quality["unusable"] == {"repeat_purchases": 1}

    # The matrix reads loyalty as behaviour: loyal = 3 or more repeat purchases.
    assert doc["loyalty"]["matrix"]["loyalty"] == {"outcome": "repeat_purchases",
                                                   "high_from": 3.0}
    both = expected.dropna(subset=["orders"])
    satisfied, loyal = both["sat"] >= 6, both["orders"] >= 3
    shares = {r["group"]: r for r in doc["loyalty"]["matrix"]["shares"]
              if r["wave"] == WAVES[-1] and r["column"] is None}
    counts = {g: int(v.sum()) for g, v in {
        "loyal_satisfied": satisfied & loyal, "satisfied_not_loyal": satisfied & ~loyal,
        "loyal_not_satisfied": ~satisfied & loyal, "neither": ~satisfied & ~loyal}.items()}
    assert {g: shares[g]["count"] for g in counts} == counts
    # Key drivers of the behaviour outcome are estimated (on 59 complete cases).
    drivers = [r for r in doc["key_drivers"] if r["outcome"] == "repeat_purchases"]
    assert drivers and {r["n"] for r in drivers} == {59}
    # The report says where the behaviour came from and how many were matched.
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "CRM extract crm.csv: 61 records" in page and "repeat purchases" in page


@pytest.mark.parametrize("engine", ["memory", "duckdb", "dask"])
def test_a_wave_column_joins_each_wave_to_its_own_record(tmp_path, engine, engine_options):
    """On every engine: the extract travels with the instrument, to Dask's worker processes
    too."""
    paths = _survey(tmp_path, n=40)
    crm = pd.DataFrame({"customer": list(range(40)) * 2, "quarter": ["2025Q1"] * 40
                        + ["2025Q2"] * 40, "orders": [1] * 40 + [5] * 40})
    crm_path = tmp_path / "crm.csv"
    crm.to_csv(crm_path, index=False)
    result, out = _report(tmp_path, paths, _instrument(tmp_path, "quarter"), crm_path,
                          *engine_options(engine))
    assert result.exit_code == 0, result.output
    rows = {r["wave"]: r for r in json.loads(out.read_text(encoding="utf-8"))["loyalty"][
        "outcomes"] if r["outcome"] == "repeat_purchases"}
    assert (rows["2025Q1"]["mean"], rows["2025Q2"]["mean"]) == (1.0, 5.0)
    assert rows["2025Q1"]["n"] == rows["2025Q2"]["n"] == 40


def test_a_store_keeps_the_behaviour_joined_at_ingest(tmp_path):
    paths = _survey(tmp_path, n=40)
    crm_path = tmp_path / "crm.csv"
    pd.DataFrame({"customer": range(40), "orders": [2] * 20 + [6] * 20}).to_csv(crm_path,
                                                                               index=False)
    instrument = _instrument(tmp_path)
    store = tmp_path / "history.duckdb"
    runner = CliRunner()
    done = runner.invoke(app, ["ingest", *paths, "--instrument", instrument, "--store",
                               str(store), "--behaviour", str(crm_path)])
    assert done.exit_code == 0, done.output
    result, out = _report(tmp_path, [], instrument, None, "--store", str(store))
    assert result.exit_code == 0, result.output
    rows = [r for r in json.loads(out.read_text(encoding="utf-8"))["loyalty"]["outcomes"]
            if r["outcome"] == "repeat_purchases"]
    assert [(r["n"], r["mean"]) for r in rows] == [(40, 4.0), (40, 4.0)]
    # An extract that matches nobody is refused at ingest, and the store keeps what it had.
    none = tmp_path / "none.csv"
    pd.DataFrame({"customer": [f"C{k}" for k in range(40)], "orders": 1}).to_csv(none,
                                                                                index=False)
    refused = runner.invoke(app, ["ingest", *paths, "--instrument", instrument, "--store",
                                  str(store), "--behaviour", str(none)])
    assert refused.exit_code == 65 and "matched none of the respondents" in refused.output
    result, out = _report(tmp_path, [], instrument, None, "--store", str(store))
    assert [r["mean"] for r in json.loads(out.read_text(encoding="utf-8"))["loyalty"][
        "outcomes"] if r["outcome"] == "repeat_purchases"] == [4.0, 4.0]


def test_few_matches_warn_and_none_is_an_error(tmp_path):
    paths = _survey(tmp_path, n=40)
    instrument = _instrument(tmp_path)
    few = tmp_path / "few.csv"
    pd.DataFrame({"customer": range(10), "orders": 3}).to_csv(few, index=False)
    result, _ = _report(tmp_path, paths, instrument, few)
    assert result.exit_code == 0, result.output
    assert "usable repeat_purchases for only 10 of the 40 respondents of 2025Q2" in \
        result.output
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Only 10 of the 40 respondents of 2025Q2" in page
    # Ids written another way ("C0001" for 1): nobody matches, the run stops.
    none = tmp_path / "none.csv"
    pd.DataFrame({"customer": [f"C{k:04d}" for k in range(40)], "orders": 3}).to_csv(
        none, index=False)
    result, out = _report(tmp_path, paths, instrument, none)
    assert result.exit_code == 65
    assert "matched none of the respondents" in result.output and "'customer'" in \
        result.output


def test_mistakes_in_the_extract_name_file_row_and_column(tmp_path):
    paths = _survey(tmp_path, n=40)
    instrument = _instrument(tmp_path)
    twice = tmp_path / "twice.csv"
    twice.write_text("customer,orders\n1,2\n2,3\n1,5\n", encoding="utf-8")
    result, _ = _report(tmp_path, paths, instrument, twice)
    assert result.exit_code == 65
    assert "two records of the respondent '1' (rows 2 and 4)" in result.output
    assert "twice.csv" in result.output
    misspelt = tmp_path / "misspelt.csv"
    misspelt.write_text("customer,order\n1,2\n", encoding="utf-8")
    result, _ = _report(tmp_path, paths, instrument, misspelt)
    assert result.exit_code == 65
    assert "no column 'orders'" in result.output and "closest: 'order'" in result.output
    result, _ = _report(tmp_path, paths, instrument, tmp_path / "absent.csv")
    assert result.exit_code == 66
    # The instrument reads behaviour: a report of survey files needs the extract.
    result, _ = _report(tmp_path, paths, instrument, None)
    assert result.exit_code == 2 and "--behaviour" in result.output
    # An extract for an instrument without [behaviour] is a usage error.
    plain = tmp_path / "plain.toml"
    plain.write_text(TINY_INSTRUMENT, encoding="utf-8")
    result, _ = _report(tmp_path, paths, str(plain), twice)
    assert result.exit_code == 2 and "[behaviour]" in result.output


@pytest.mark.parametrize("text, key", [
    # a behaviour outcome needs [behaviour] naming the extract's id column
    (TINY_INSTRUMENT + '[outcomes.purchase_share]\ncolumn = "share"\nscale_min = 0\n'
     'scale_max = 100\n', "behaviour"),
    # [behaviour] with nothing to read from it
    (TINY_INSTRUMENT + '[behaviour]\nid = "customer"\n', "behaviour"),
    # behaviour as the matrix's loyalty needs high_from: a count has no top answers
    (TINY_INSTRUMENT + '[behaviour]\nid = "c"\n[outcomes.satisfaction]\ncolumn = "sat"\n'
     'scale_min = 1\nscale_max = 7\n[outcomes.repeat_purchases]\ncolumn = "orders"\n'
     'scale_min = 0\nscale_max = 50\n[loyalty_matrix]\nloyalty = "repeat_purchases"\n',
     "outcomes.repeat_purchases.high_from"),
    (TINY_INSTRUMENT + '[behaviour]\nid = "c"\n[outcomes.repeat_purchases]\n'
     'column = "orders"\nscale_min = 0\nscale_max = 50\nsource = "crm"\n',
     "outcomes.repeat_purchases.source"),
])
def test_instrument_mistakes_about_behaviour_exit_65_naming_the_key(tmp_path, text, key):
    path = tmp_path / "instrument.toml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", *_survey(tmp_path, n=10), "--instrument",
                                      str(path)])
    assert result.exit_code == 65, result.output
    assert f"key '{key}'" in result.output


def test_ids_written_as_decimals_or_in_a_workbook_still_join(tmp_path):
    """A CRM export often writes ids as 1001.0 (a number column) or keeps them in Excel."""
    paths = _survey(tmp_path, n=40)
    instrument = _instrument(tmp_path)
    frame = pd.DataFrame({"customer": [f"{k}.0" for k in range(40)], "orders": range(40)})
    decimals = tmp_path / "decimals.csv"
    frame.to_csv(decimals, index=False)
    book = tmp_path / "crm.xlsx"
    frame.assign(customer=np.arange(40, dtype=float)).to_excel(book, index=False)
    for crm in (decimals, book):
        result, out = _report(tmp_path, paths, instrument, crm)
        assert result.exit_code == 0, result.output
        row = [r for r in json.loads(out.read_text(encoding="utf-8"))["loyalty"]["outcomes"]
               if r["outcome"] == "repeat_purchases"][-1]
        assert (row["n"], row["mean"]) == (40, pytest.approx(19.5))
