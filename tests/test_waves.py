from __future__ import annotations

import numpy as np
import pytest

from servqual.waves import parse_wave, sort_waves, time_axis, wave_from_filename


def test_quarters_sort_chronologically_not_alphabetically():
    labels = ["2026Q1", "2025Q4", "2025Q10"[:6], "2024Q4"]
    assert sort_waves(labels) == ["2024Q4", "2025Q1", "2025Q4", "2026Q1"]


@pytest.mark.parametrize("label", ["2026Q3", "2026-Q3", "2026 q3", "2026年第3季度", "2026_Q3",
                                   "Q3 2026", "q3-2026", "２０２６Ｑ３", "２０２６年第３季度"])
def test_quarter_spellings(label):
    kind, date = parse_wave(label)
    assert kind == "quarter" and (date.year, date.month) == (2026, 7)


def test_months_and_dates():
    assert parse_wave("2026-07")[0] == "month"
    assert parse_wave("2026年7月")[0] == "month"
    assert parse_wave("2026-07-15")[0] == "date"
    assert sort_waves(["2026-10", "2026-07", "2025-12"]) == ["2025-12", "2026-07", "2026-10"]
    assert sort_waves(["2026-02-01", "2025-12-31"]) == ["2025-12-31", "2026-02-01"]


def test_skipped_quarter_keeps_its_real_length():
    axis = time_axis(["2025Q1", "2025Q2", "2025Q4", "2026Q1"])
    np.testing.assert_array_equal(axis.positions, [0, 1, 3, 4])
    assert axis.granularity == "quarter" and axis.calendar


def test_monthly_labels_of_quarterly_waves_count_in_waves():
    axis = time_axis(["2025-01", "2025-04", "2025-07", "2025-10"])
    np.testing.assert_array_equal(axis.positions, [0, 1, 2, 3])


def test_free_text_labels_are_natural_order_equally_spaced():
    axis = time_axis(["wave10", "wave2", "wave1"])
    assert axis.labels == ["wave1", "wave2", "wave10"]
    assert not axis.calendar
    np.testing.assert_array_equal(axis.positions, [0, 1, 2])


def test_wave_from_file_name_stem():
    assert wave_from_filename("data/2026Q3.csv") == "2026Q3"
