"""Top-2-box and bottom-2-box shares per item, through the command line, against counts by
hand and statsmodels' Wilson interval and two-proportion z-test."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint, proportions_ztest
from typer.testing import CliRunner

from fixtures import TINY_INSTRUMENT, write
from servqual.cli import app

INSTRUMENT = TINY_INSTRUMENT.replace('respondent_id = "id"', 'respondent_id = "id"\nwave = "wave"')


def waves(tmp_path):
    """Two waves on the 1–5 scale; i1's perceptions improve between them."""
    rng = np.random.default_rng(3)
    files, frames = [], []
    for w, (wave, high) in enumerate((("2026Q2", 0.3), ("2026Q3", 0.5))):
        n = 150 + 30 * w
        frame = pd.DataFrame({"id": [f"{wave}-{i}" for i in range(n)], "wave": wave,
                              "region": rng.choice(["East", "West"], n)})
        for j in (1, 2, 3):
            frame[f"E{j}"] = rng.integers(3, 6, n)
            top = rng.random(n) < (high if j == 1 else 0.4)
            frame[f"P{j}"] = np.where(top, rng.integers(4, 6, n), rng.integers(1, 4, n))
        frame.loc[frame.index[:5], "E2"] = 9  # missing expectation: P2 not counted there
        frames.append(frame)
        files.append(write(tmp_path / f"{wave}.csv", frame.to_csv(index=False)))
    return files, frames


def test_box_shares_intervals_and_change_by_hand(tmp_path):
    files, frames = waves(tmp_path)
    inst = write(tmp_path / "instrument.toml", INSTRUMENT)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["report", *map(str, files), "-i", str(inst), "-o",
                                      str(tmp_path / "r.html"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    items = {i["item"]: i for i in doc["items"]}
    old, new = frames

    def counted(frame, j):  # perceptions of respondents who answered both (E 9 = missing)
        return frame.loc[frame[f"E{j}"] != 9, f"P{j}"]

    for j in (1, 2, 3):
        p = counted(new, j)
        top, bottom = int((p >= 4).sum()), int((p <= 2).sum())
        row = items[f"i{j}"]
        assert row["top2_share"] == pytest.approx(top / len(p))
        assert row["bottom2_share"] == pytest.approx(bottom / len(p))
        low, high = proportion_confint(top, len(p), method="wilson")
        assert (row["top2_ci95_low"], row["top2_ci95_high"]) == pytest.approx((low, high))
        before = counted(old, j)
        assert row["top2_change"] == pytest.approx(top / len(p) - (before >= 4).mean())
        _, p_value = proportions_ztest([top, int((before >= 4).sum())], [len(p), len(before)])
        assert row["top2_change_p"] == pytest.approx(p_value)
    adjusted = sorted(items[f"i{j}"]["top2_change_p_adjusted"] for j in (1, 2, 3))
    raw = sorted(items[f"i{j}"]["top2_change_p"] for j in (1, 2, 3))
    assert adjusted[0] == pytest.approx(min(1, 3 * raw[0]))  # Holm across the wave's items
    by_wave = {(r["wave"], r["item"]): r for r in doc["by_wave_items"]}
    assert by_wave[("2026Q2", "i1")]["top2_share"] == pytest.approx(
        (counted(old, 1) >= 4).mean())
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Top-2 box" in page and "Bottom-2 box" in page


@pytest.mark.parametrize("engine", ["memory", "duckdb"])
def test_answer_distribution_by_hand(tmp_path, engine):
    """Each item's perception answers counted on every scale point (1..5, none on 5 here
    for i2's bottom half), for the current and earlier waves: pandas' value_counts of the
    same respondents' answers."""
    files, frames = waves(tmp_path)
    inst = write(tmp_path / "instrument.toml", INSTRUMENT)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["report", *map(str, files), "-i", str(inst), "-o",
                                      str(tmp_path / "r.html"), "--json", str(out),
                                      "--engine", engine])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    items = {i["item"]: i for i in doc["items"]}
    by_wave = {(r["wave"], r["item"]): r for r in doc["by_wave_items"]}
    for frame, wave in zip(frames, ("2026Q2", "2026Q3")):
        for j in (1, 2, 3):
            answers = frame.loc[frame[f"E{j}"] != 9, f"P{j}"]
            expected = [int((answers == point).sum()) for point in range(1, 6)]
            assert by_wave[(wave, f"i{j}")]["perception_counts"] == expected
            if wave == "2026Q3":
                assert items[f"i{j}"]["perception_counts"] == expected
                assert sum(expected) == items[f"i{j}"]["n"]
