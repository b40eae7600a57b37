"""A changed questionnaire on every path: files in memory, the DuckDB and Dask engines, the store.

Item i2 of dimension alpha was not asked in the first two of four waves (its columns blank).
Alpha's trend must then use only the items asked in every wave (here i1), so that adding an
item cannot pass for a change in service. The expected trend is computed here from the raw
answers with numpy (independently of servqual): each respondent's alpha score over the common
items, the wave means of the gap, and the least-squares slope over consecutive quarters.
Before the redesign only a code path the command line never ran computed it; the report
still claimed ``common_items_only``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from fixtures import TINY_INSTRUMENT, write
from servqual.cli import app

WAVES = ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]
runner = CliRunner()


def history(tmp_path):
    """Four waves with a planted decline on i1 (i2 only asked from 2026Q2 on)."""
    rng = np.random.default_rng(42)
    files, raw = [], {}
    for w, wave in enumerate(WAVES):
        n = 60
        e = rng.integers(3, 6, size=(n, 3))
        p = np.clip(e + rng.integers(-1, 2, size=(n, 3)) - (w >= 2), 1, 5)
        p[:, 0] = np.clip(e[:, 0] - w + rng.integers(-1, 2, size=n), 1, 5)  # i1 falls
        rows = ["id,region,E1,E2,E3,P1,P2,P3"]
        for i in range(n):
            asked = w >= 2
            cells = [e[i, 0], e[i, 1] if asked else "", e[i, 2],
                     p[i, 0], p[i, 1] if asked else "", p[i, 2]]
            rows.append(f"{wave}-{i},{'East' if i % 2 else 'West'}," + ",".join(map(str, cells)))
        files.append(write(tmp_path / f"{wave}.csv", "\n".join(rows) + "\n"))
        raw[wave] = (e, p)
    return write(tmp_path / "instrument.toml", TINY_INSTRUMENT), files, raw


def expected_common_slope(raw) -> float:
    """Alpha over its common item i1 only (a one-item dimension score is that item's gap;
    min_item_share 0.5 of one item needs it answered), slope per wave by least squares
    weighted by the wave means' standard errors (sd / √n)."""
    gaps = [p[:, 0] - e[:, 0] for e, p in (raw[w] for w in WAVES)]
    means = [float(np.mean(g)) for g in gaps]
    se = [float(np.std(g, ddof=1) / np.sqrt(len(g))) for g in gaps]
    return float(np.polyfit(np.arange(len(WAVES)), means, 1, w=1 / np.array(se))[0])


def alpha_trend(doc) -> dict:
    return next(t for t in doc["trends"] if t["dimension"] == "alpha")


@pytest.mark.parametrize("engine", ["memory", "duckdb", "dask"])
def test_changed_questionnaire_trends_over_common_items(tmp_path, engine, engine_options):
    inst, files, raw = history(tmp_path)
    js = tmp_path / "r.json"
    result = runner.invoke(app, ["report", *map(str, files), "--instrument", str(inst),
                                 *engine_options(engine), "--out", str(tmp_path / "r.html"),
                                 "--json", str(js)])
    assert result.exit_code == 0, result.output
    doc = json.loads(js.read_text(encoding="utf-8"))
    trend = alpha_trend(doc)
    assert trend["common_items_only"] is True
    assert trend["slope_per_wave"] == pytest.approx(expected_common_slope(raw), rel=1e-9)
    beta = next(t for t in doc["trends"] if t["dimension"] == "beta")
    assert beta["common_items_only"] is False
    breaks = doc["questionnaire_breaks"]
    assert [(b["item"], b["waves_missing"]) for b in breaks] == [("i2", WAVES[:2])]


def test_changed_questionnaire_through_the_store(tmp_path):
    """Ingested in two steps, reported from the store alone, and answered by servqual trend:
    the same trend over the common items."""
    inst, files, raw = history(tmp_path)
    store = tmp_path / "h.duckdb"
    for batch in (files[:2], files[2:]):
        result = runner.invoke(app, ["ingest", *map(str, batch), "--instrument", str(inst),
                                     "--store", str(store)])
        assert result.exit_code == 0, result.output
    js = tmp_path / "r.json"
    result = runner.invoke(app, ["report", "--store", str(store), "--instrument", str(inst),
                                 "--out", str(tmp_path / "r.html"), "--json", str(js)])
    assert result.exit_code == 0, result.output
    trend = alpha_trend(json.loads(js.read_text(encoding="utf-8")))
    assert trend["common_items_only"] is True
    assert trend["slope_per_wave"] == pytest.approx(expected_common_slope(raw), rel=1e-9)
    # A file given with the store replaces its wave: still the same answer.
    result = runner.invoke(app, ["report", str(files[-1]), "--store", str(store),
                                 "--instrument", str(inst), "--out", str(tmp_path / "s.html"),
                                 "--json", str(js)])
    assert result.exit_code == 0, result.output
    trend = alpha_trend(json.loads(js.read_text(encoding="utf-8")))
    assert trend["slope_per_wave"] == pytest.approx(expected_common_slope(raw), rel=1e-9)
    result = runner.invoke(app, ["trend", "--store", str(store), "--dimension", "alpha",
                                 "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    (series,) = answer["series"]
    assert series["gap_trend"]["slope_per_wave"] == pytest.approx(expected_common_slope(raw),
                                                                  rel=1e-9)


def dropped_in_latest_wave(tmp_path, seed: int, n: int = 150):
    """Four waves in which nothing changes, except that i2 (perceived two points below what
    is expected, the worst item of alpha) is not asked in the latest wave."""
    rng = np.random.default_rng(seed)
    files, raw = [], {}
    for w, wave in enumerate(WAVES):
        e = rng.integers(3, 6, size=(n, 3))
        p = np.clip(e + rng.integers(-1, 2, size=(n, 3)), 1, 5)
        p[:, 1] = np.clip(e[:, 1] - 2 + rng.integers(-1, 2, size=n), 1, 5)
        asked = w < 3
        rows = ["id,region,E1,E2,E3,P1,P2,P3"]
        for i in range(n):
            cells = [e[i, 0], e[i, 1] if asked else "", e[i, 2],
                     p[i, 0], p[i, 1] if asked else "", p[i, 2]]
            rows.append(f"{wave}-{i},{'East' if i % 2 else 'West'}," + ",".join(map(str, cells)))
        folder = tmp_path / str(seed)
        folder.mkdir(exist_ok=True)
        files.append(write(folder / f"{wave}.csv", "\n".join(rows) + "\n"))
        raw[wave] = (e, p)
    return files, raw


def test_an_item_dropped_from_the_latest_wave_raises_no_false_rise(tmp_path):
    """Dropping alpha's worst item made alpha's gap jump in the latest wave: the change since
    the last wave was a significant "rise" in every simulated history, though no answer
    changed. Judged over the items asked in every wave (i1), the change is i1's own, and a
    rise or an alert is as rare as the tests' error rates allow (fixed seeds: 3 of 40
    histories in a longer run; before, a rise in every history)."""
    inst = write(tmp_path / "instrument.toml", TINY_INSTRUMENT)
    rises = 0
    for seed in range(20):
        files, raw = dropped_in_latest_wave(tmp_path, seed)
        js = tmp_path / f"{seed}.json"
        result = runner.invoke(app, ["report", *map(str, files), "--instrument", str(inst),
                                     "--out", str(tmp_path / "r.html"), "--json", str(js)])
        assert result.exit_code == 0, result.output
        doc = json.loads(js.read_text(encoding="utf-8"))
        alpha = next(r for r in doc["wave_over_wave"]
                     if r["level"] == "dimension" and r["dimension"] == "alpha")
        assert alpha["common_items_only"] is True
        (e2, p2), (e3, p3) = raw[WAVES[-2]], raw[WAVES[-1]]
        change = np.mean(p3[:, 0] - e3[:, 0]) - np.mean(p2[:, 0] - e2[:, 0])
        assert alpha["change"] == pytest.approx(change, rel=1e-9, abs=1e-12)
        beta = next(r for r in doc["wave_over_wave"]
                    if r["level"] == "dimension" and r["dimension"] == "beta")
        assert beta["common_items_only"] is False
        rises += bool(alpha["rise"]) or bool(alpha["alert"])
    assert rises <= 3


def test_segment_trends_of_a_changed_dimension_use_the_common_items(tmp_path):
    """The report's segment trends fitted every item while the store's (servqual trend)
    fitted the common ones: the two disagreed on the same segment. Both now give the slope
    computed here from East's answers to i1 alone."""
    inst, files, raw = history(tmp_path)
    js = tmp_path / "r.json"
    result = runner.invoke(app, ["report", *map(str, files), "--instrument", str(inst),
                                 "--out", str(tmp_path / "r.html"), "--json", str(js)])
    assert result.exit_code == 0, result.output
    east = [np.arange(60) % 2 == 1 for _ in WAVES]
    gaps = [(p[:, 0] - e[:, 0])[m] for (e, p), m in zip((raw[w] for w in WAVES), east)]
    means = [float(np.mean(g)) for g in gaps]
    se = [float(np.std(g, ddof=1) / np.sqrt(len(g))) for g in gaps]
    slope = float(np.polyfit(np.arange(len(WAVES)), means, 1, w=1 / np.array(se))[0])
    doc = json.loads(js.read_text(encoding="utf-8"))
    row = next(t for t in doc["segment_trends"]
               if (t["column"], t["value"], t["dimension"]) == ("region", "East", "alpha"))
    assert row["slope_per_wave"] == pytest.approx(slope, rel=1e-9)
    store = tmp_path / "h.duckdb"
    result = runner.invoke(app, ["ingest", *map(str, files), "--instrument", str(inst),
                                 "--store", str(store)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["trend", "--store", str(store), "--dimension", "alpha",
                                 "--segment", "region=East", "--json"])
    assert result.exit_code == 0, result.output
    (series,) = json.loads(result.stdout)["series"]
    assert series["gap_trend"]["slope_per_wave"] == pytest.approx(slope, rel=1e-9)
