"""Marginal sums of per-cell rows against pandas group-bys of the same rows."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from servqual.stats import cells as cells_module
from servqual.stats.cells import CellRows, families, marginals


def _expected(frame: pd.DataFrame, cells: pd.DataFrame, segment: str) -> pd.DataFrame:
    joined = frame.join(cells, on="cell")
    by = ["wave"] if segment == "" else ["wave", segment]
    joined = joined[joined[by].notna().all(axis=1)]
    out = joined.groupby(by + ["level", "id"], sort=True)[["n", "sum"]].sum().reset_index()
    out["segment"] = segment
    out["value"] = "" if segment == "" else out.pop(segment)
    return out.sort_values(["wave", "value", "level", "id"]).reset_index(drop=True)


@st.composite
def per_cell(draw):
    n_cells = draw(st.integers(1, 12))
    cells = pd.DataFrame({
        "wave": draw(st.lists(st.sampled_from(["2025Q1", "2025Q2"]), min_size=n_cells,
                              max_size=n_cells)),
        "region": draw(st.lists(st.sampled_from(["East", "West", None]), min_size=n_cells,
                                max_size=n_cells)),
    })
    rows = draw(st.integers(0, 60))
    frame = pd.DataFrame({
        "cell": draw(st.lists(st.integers(0, n_cells - 1), min_size=rows, max_size=rows)),
        "level": draw(st.lists(st.sampled_from(["item", "dimension"]), min_size=rows,
                               max_size=rows)),
        "id": draw(st.lists(st.sampled_from(["T1", "R2", "tangibles"]), min_size=rows,
                            max_size=rows)),
        "n": draw(st.lists(st.integers(0, 50).map(float), min_size=rows, max_size=rows)),
        "sum": draw(st.lists(st.integers(-300, 300).map(float), min_size=rows, max_size=rows)),
    })
    return cells, frame


@pytest.mark.parametrize("dense", [True, False])
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # set once, never reset
@given(data=per_cell())
def test_marginals_equal_pandas_group_sums(data, dense, monkeypatch):
    # dense: bincount over every (group, key); not dense: through a sort (np.unique)
    monkeypatch.setattr(cells_module, "_DENSE_LIMIT", 1 << 22 if dense else 0)
    monkeypatch.setattr(cells_module, "_DENSE_PER_ROW", 4 if dense else 0)
    cells, frame = data
    rows = CellRows.from_frame(frame, ["level", "id"], ["n", "sum"])
    got = marginals(rows, families(cells, "wave", ("region",)))
    for segment in ("", "region"):
        mine = got[got["segment"] == segment]
        mine = mine.sort_values(["wave", "value", "level", "id"]).reset_index(drop=True)
        expected = _expected(frame, cells, segment)
        assert len(mine) == len(expected)
        for column in ["wave", "value", "level", "id", "n", "sum"]:
            assert mine[column].tolist() == expected[column].tolist(), column


def test_dense_rows_and_shared_keys_are_one_key():
    keys = pd.DataFrame({"level": ["item", "item"], "id": ["T1", "T2"]})
    a = CellRows.dense(keys, {"n": np.array([[1.0, 2.0], [3.0, 4.0]])})
    b = CellRows.dense(keys.iloc[[1]], {"n": np.array([[10.0], [20.0]])})
    both = CellRows.concat([a, b])
    assert len(both.keys) == 2  # T2 of both parts is one key
    cells = pd.DataFrame({"wave": ["W1", "W1"], "region": ["East", "West"]})
    got = marginals(both, families(cells, "wave", ("region",)))
    whole = got[got["segment"] == ""].set_index("id")["n"]
    assert whole.to_dict() == {"T1": 4.0, "T2": 36.0}
    east = got[(got["segment"] == "region") & (got["value"] == "East")].set_index("id")["n"]
    assert east.to_dict() == {"T1": 1.0, "T2": 12.0}


def test_plain_numbers_cast_at_once_agree_with_the_text_parse():
    # The fast path of numbers_into (Arrow's cast of a column of plain numbers) gives what the
    # text-by-text parse gives, and leaves every other column to it.
    import numpy as np
    import pandas as pd

    from servqual.validation.cells import _plain_numbers, numbers_into

    plain = ["1", "4.5", "+5", "1e-320", "inf", "-0", ".5", "5.", None]
    others = [[" 5"], ["５"], ["0x1F"], ["NAN"], ["1,5"], ["abc"]]
    column = pd.Series(plain, dtype="string[pyarrow]")
    import pyarrow as pa
    assert _plain_numbers(pa.chunked_array([pa.array(plain, pa.string())])) is not None
    fast = np.empty(len(plain))
    assert not numbers_into(column, fast).any()
    slow = np.empty(len(plain) + 1)  # a cell of text sends the column to the text parse
    bad = numbers_into(pd.Series(plain + ["abc"], dtype="string[pyarrow]"), slow)
    assert bad.tolist() == [False] * len(plain) + [True]
    np.testing.assert_array_equal(fast, slow[:-1])
    np.testing.assert_array_equal(fast[:3], [1, 4.5, 5])
    for cells in others:
        assert _plain_numbers(pa.chunked_array([pa.array(cells, pa.string())])) is None
