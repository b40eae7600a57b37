"""The compiled row checks (servqual.rowchecks) against numpy on the same answers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from servqual import rowchecks

answers = hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=9),
                     elements=st.sampled_from([np.nan, 1.0, 2.0, 3.0, 7.0]))


def taller(matrix: np.ndarray) -> np.ndarray:
    """The matrix as validation leaves it: the top rows of a taller column-major matrix."""
    parent = np.full((len(matrix) + 3, matrix.shape[1]), 5.0, dtype=matrix.dtype, order="F")
    parent[:len(matrix)] = matrix
    return parent[:len(matrix)]


@settings(max_examples=200, deadline=None)
@given(answers, answers, st.integers(1, 4))
def test_straightlining_equals_numpy(e, p, min_answered):
    p = np.resize(p, e.shape)
    expected = np.ones(len(e), dtype=bool)
    for battery in (e, p):
        answered = (~np.isnan(battery)).sum(axis=1)
        # fmin and fmax pass over NaN; a row with no answer gives inf != -inf
        alike = np.fmin.reduce(battery, axis=1, initial=np.inf) == np.fmax.reduce(
            battery, axis=1, initial=-np.inf)
        expected &= (answered >= min_answered) & alike
    for layout in (lambda m: m, np.asfortranarray, taller):
        got = rowchecks.straight([layout(e), layout(p)], min_answered)
        np.testing.assert_array_equal(got, expected)


@settings(max_examples=200, deadline=None)
@given(answers)
def test_missing_and_unanswered_rows_equal_numpy(matrix):
    for layout in (lambda m: m, np.asfortranarray, taller):
        assert rowchecks.missing(layout(matrix)) == int(np.isnan(matrix).sum())
        np.testing.assert_array_equal(rowchecks.answered_none(layout(matrix)),
                                      np.isnan(matrix).all(axis=1))


def test_key_hashes_equal_for_equal_keys_only():
    ids = ["r1", "r2", "r1", "r1", "", "客户7", "客户7", "r10", "r1"]
    wave = np.array([0, 0, 0, 1, 0, 0, 0, 0, 0], dtype=np.int64)
    array = pa.array(ids, pa.large_string())
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)
    h = rowchecks.key_hashes(wave, offsets, data)
    keys = list(zip(wave, ids))
    for a in range(len(ids)):
        for b in range(len(ids)):
            assert (h[a] == h[b]) == (keys[a] == keys[b]), (keys[a], keys[b])


def test_key_hashes_of_32_and_64_bit_offsets_agree():
    ids = ["r1", "", "客户7", "a-much-longer-respondent-identifier", "r1"]
    wave = np.array([0, 1, 0, 2, 1], dtype=np.int64)
    hashes = []
    for kind, width in ((pa.string(), np.int32), (pa.large_string(), np.int64)):
        array = pa.array(ids, kind)
        hashes.append(rowchecks.key_hashes(
            wave, np.frombuffer(array.buffers()[1], dtype=width),
            np.frombuffer(array.buffers()[2], dtype=np.uint8)))
    np.testing.assert_array_equal(hashes[0], hashes[1])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([0, 1, 2, 3, 2**63, 2**64 - 1, 12345678901234567]) |
                st.integers(0, 2**64 - 1), max_size=60))
def test_repeated_hashes_equal_pandas_duplicated(values):
    import pandas as pd

    hashes = np.array(values, dtype=np.uint64)
    expected = pd.Series(hashes).duplicated(keep=False).to_numpy()
    got = rowchecks.repeated(hashes)
    # 0 is stored as 1: a 0 and a 1 mark each other; every true repeat is marked
    assert (got >= expected).all()
    spurious = got & ~expected
    assert set(hashes[spurious].tolist()) <= {0, 1}
    if not ({0, 1} <= set(values)):
        np.testing.assert_array_equal(got, expected)
