"""The duplicate rule (servqual.validation.duplicates) and the compiled hashing behind it.

The rule is checked on cases written out by hand; the hashing kernels, which only find
candidates, against pandas on the same keys.
"""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from servqual.models import Reason
from servqual.responses import Responses
from servqual.validation import duplicates, hashing

CONFLICT, REPEAT = int(Reason.duplicate_conflict), int(Reason.duplicate_respondent)


def test_judge_as_the_rule_says():
    # rows in input order: a, b, a, c, b, a   (a: three identical copies; b: two that differ)
    group = np.array([0, 1, 0, 2, 1, 0])
    digest = np.array([7, 8, 7, 9, 5, 7], dtype=np.uint64)
    rows = np.array([2, 3, 4, 5, 6, 7])
    reason, first = duplicates.judge(group, digest, rows)
    assert reason.tolist() == [0, CONFLICT, REPEAT, 0, CONFLICT, REPEAT]
    assert first.tolist() == [-1, -1, 2, -1, -1, 2]


def test_judge_of_nothing():
    reason, first = duplicates.judge(np.array([], int), np.array([], np.uint64), np.array([]))
    assert len(reason) == len(first) == 0


def _responses(meta: pd.DataFrame, answers: np.ndarray) -> Responses:
    k = answers.shape[1] // 2
    return Responses(item_ids=tuple(f"i{j}" for j in range(k)),
                     expectation=answers[:, :k], perception=answers[:, k:], meta=meta,
                     segments=("region",))


def test_content_digest_compares_labels_by_value_however_held():
    """The same respondent read by two engines (a categorical and an Arrow string column)
    hashes the same; a different region does not."""
    answers = np.array([[4, 5, 3, 4], [4, 5, 3, 4]], dtype=np.float32)
    as_categories = pd.DataFrame({"wave": ["W", "W"], "respondent_id": ["r1", "r1"],
                                  "region": pd.Categorical(["East", "West"])})
    as_text = as_categories.assign(region=pd.array(["East", "West"], "string[pyarrow]"))
    a = duplicates.content_digest(_responses(as_categories, answers))
    b = duplicates.content_digest(_responses(as_text, answers))
    assert a.tolist() == b.tolist() and a[0] != a[1]


def test_find_within_a_table():
    meta = pd.DataFrame({"source_row": [2, 3, 4, 5, 6], "wave": pd.Categorical(["W"] * 5),
                         "respondent_id": pd.array(["r1", "r2", "r1", "r2", "r3"],
                                                   "string[pyarrow]"),
                         "region": pd.Categorical(["E", "E", "E", "E", "E"])})
    answers = np.array([[1, 2, 3, 4], [1, 1, 1, 1], [1, 2, 3, 4], [2, 2, 2, 2],
                        [5, 5, 5, 5]], dtype=np.float32)
    reason, first = duplicates.find(_responses(meta, answers))
    assert reason.tolist() == [0, CONFLICT, REPEAT, CONFLICT, 0]
    assert first.tolist() == [-1, -1, 2, -1, -1]


def _arrow_parts(ids, kind=pa.large_string()):
    array = pa.array(ids, kind)
    width = np.int64 if kind == pa.large_string() else np.int32
    return (np.frombuffer(array.buffers()[1], dtype=width),
            np.frombuffer(array.buffers()[2], dtype=np.uint8))


def test_key_hashes_equal_for_equal_keys_only():
    ids = ["r1", "r2", "r1", "r1", "", "客户7", "客户7", "r10", "r1"]
    seeds = np.array([11, 11, 11, 23, 11, 11, 11, 11, 11], dtype=np.uint64)
    h = hashing.key_hashes(seeds, *_arrow_parts(ids))
    keys = list(zip(seeds.tolist(), ids))
    for a in range(len(ids)):
        for b in range(len(ids)):
            assert (h[a] == h[b]) == (keys[a] == keys[b]), (keys[a], keys[b])


def test_key_hashes_of_32_and_64_bit_offsets_agree():
    ids = ["r1", "", "客户7", "a-much-longer-respondent-identifier", "r1"]
    seeds = np.array([1, 2, 1, 3, 2], dtype=np.uint64)
    np.testing.assert_array_equal(hashing.key_hashes(seeds, *_arrow_parts(ids, pa.string())),
                                  hashing.key_hashes(seeds, *_arrow_parts(ids)))


def test_key_hashes_do_not_depend_on_the_table():
    """A wave enters by its label: the same respondent in two files hashes the same,
    whatever other waves each file holds."""
    one = pd.DataFrame({"wave": pd.Categorical(["2026Q3", "2026Q2"]),
                        "respondent_id": pd.array(["r1", "r1"], "string[pyarrow]")})
    other = pd.DataFrame({"wave": pd.Categorical(["2026Q3"]),
                          "respondent_id": pd.array(["r1"], "string[pyarrow]")})
    assert duplicates.key_hashes(one)[0] == duplicates.key_hashes(other)[0]
    assert duplicates.key_hashes(one)[1] != duplicates.key_hashes(other)[0]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([0, 1, 2, 3, 2**63, 2**64 - 1, 12345678901234567]) |
                st.integers(0, 2**64 - 1), max_size=60))
def test_repeated_hashes_equal_pandas_duplicated(values):
    hashes = np.array(values, dtype=np.uint64)
    expected = pd.Series(hashes).duplicated(keep=False).to_numpy()
    got = hashing.repeated(hashes)
    # 0 is stored as 1: a 0 and a 1 mark each other; every true repeat is marked
    assert (got >= expected).all()
    assert set(hashes[got & ~expected].tolist()) <= {0, 1}
    if not ({0, 1} <= set(values)):
        np.testing.assert_array_equal(got, expected)


def test_batches_carry_the_respondents_whole():
    """Responses → record batch → Responses: the same answers and meta, the answers not
    copied, and the matrix still valid once the batch is gone."""
    n = 1000
    rng = np.random.default_rng(3)
    answers = np.asfortranarray(rng.integers(1, 6, size=(n, 6)).astype(np.float32))
    answers[rng.random((n, 6)) < 0.1] = np.nan
    meta = pd.DataFrame({"source_row": np.arange(2, n + 2), "wave": pd.Categorical(["W"] * n),
                         "respondent_id": pd.array([f"r{i}" for i in range(n)],
                                                   "string[pyarrow]"),
                         "region": pd.Categorical(rng.choice(["E", "W"], n)),
                         "importance:a": rng.random(n)})
    expected = answers.copy()
    before = _responses(meta, answers)
    batch = before.to_batch()
    after = Responses.from_batch(batch, before.item_ids, ("region",))
    assert np.shares_memory(after.perception, answers)
    del batch, before, answers  # only the new matrices hold the memory now
    gc.collect()
    np.zeros((n, 6), dtype=np.float32)[:] = -1  # memory freed by mistake would be reused
    np.testing.assert_array_equal(after.expectation, expected[:, :3])
    np.testing.assert_array_equal(after.perception, expected[:, 3:])
    assert after.meta["region"].astype(str).tolist() == meta["region"].astype(str).tolist()
    assert after.meta["importance:a"].tolist() == meta["importance:a"].tolist()


def test_respondents_read_back_from_duckdb_outlive_the_result():
    """DuckDB hands back each column in buffers of its own: the matrix built over them
    must keep them all alive (a view that held only the first read freed memory)."""
    import duckdb

    rng = np.random.default_rng(5)
    n = 300
    answers = np.asfortranarray(rng.integers(1, 6, size=(n, 8)).astype(np.float32))
    meta = pd.DataFrame({"source_row": np.arange(2, n + 2), "wave": pd.Categorical(["W"] * n),
                         "respondent_id": pd.array([f"r{i}" for i in range(n)],
                                                   "string[pyarrow]"),
                         "region": pd.Categorical(["E"] * n)})
    con = duckdb.connect()
    con.register("rows", pa.Table.from_batches([_responses(meta, answers).to_batch()]))
    table = con.sql("SELECT * FROM rows").to_arrow_table()
    after = Responses.from_batch(table, tuple(f"i{j}" for j in range(4)), ("region",))
    del table
    con.close()
    gc.collect()
    for _ in range(20):
        np.full((n, 8), -1.0, dtype=np.float32)
    np.testing.assert_array_equal(after.expectation, answers[:, :4])
    np.testing.assert_array_equal(after.perception, answers[:, 4:])


def test_distinct_key_hashes_as_numpy_unique():
    """The parts' key hashes are made distinct by a sort (np.unique's hash path is slow on
    64-bit hashes); the result must be np.unique's."""
    import numpy as np

    from servqual.engines.parts import _distinct

    rng = np.random.default_rng(7)
    for values in (rng.integers(0, 40, 500).astype(np.uint64),
                   rng.integers(0, 2**63, 1000).astype(np.uint64), np.array([], np.uint64)):
        assert np.array_equal(_distinct(values), np.unique(values))
