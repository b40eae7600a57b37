"""Compiled loops of row validation: one pass over the answers where numpy needs several.

The same conventions as :mod:`servqual.stats.kernels`: answer matrices typed column-major
(:func:`~servqual.stats.kernels.column_major`), loops over contiguous columns, compiled code
cached. tests/test_validate.py checks each against a numpy computation of the same thing.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .stats.kernels import column_major

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@njit(**_JIT)
def _flat(battery, rows, min_answered, out):
    """out[i] &= respondent i answered ≥ min_answered items of the battery, all alike."""
    answered = np.zeros(rows, np.int32)
    low = np.full(rows, np.inf, np.float32)
    high = np.full(rows, -np.inf, np.float32)
    for j in range(battery.shape[1]):
        for i in range(rows):
            x = battery[i, j]
            if x == x:
                answered[i] += 1
                low[i] = min(low[i], x)
                high[i] = max(high[i], x)
    for i in range(rows):
        out[i] &= (answered[i] >= min_answered) & (low[i] == high[i])


def straight(batteries: list[np.ndarray], min_answered: int) -> np.ndarray:
    """Respondents who, in every battery, gave one and the same answer to at least
    ``min_answered`` items."""
    rows = len(batteries[0])
    out = np.ones(rows, dtype=np.bool_)
    for battery in batteries:
        _flat(column_major(battery), rows, min_answered, out)
    return out


@njit(**_JIT)
def _missing(battery, rows):
    count = 0
    for j in range(battery.shape[1]):
        for i in range(rows):
            count += battery[i, j] != battery[i, j]
    return count


def missing(battery: np.ndarray) -> int:
    """The number of missing answers (NaN) in an answer matrix."""
    return int(_missing(column_major(battery), len(battery)))


@njit(**_JIT)
def _answered_none(values, rows, out):
    for i in range(rows):
        out[i] = True
    for j in range(values.shape[1]):
        for i in range(rows):
            out[i] &= values[i, j] != values[i, j]


def answered_none(values: np.ndarray) -> np.ndarray:
    """Rows of an answer matrix with no answer at all."""
    out = np.empty(len(values), dtype=np.bool_)
    _answered_none(column_major(values), len(values), out)
    return out


@njit(**_JIT)
def _hashes(wave, offsets, data, out):
    for i in range(len(out)):
        h = np.uint64(wave[i]) * np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(
            offsets[i + 1] - offsets[i])
        for b in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[b])) * np.uint64(0x100000001B3)
        out[i] = h


def key_hashes(wave: np.ndarray, offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """A 64-bit hash (FNV-1a over the bytes, seeded with the wave and the length) of each
    row's (wave code, id): equal keys, equal hashes. ``offsets`` and ``data`` are an Arrow
    string array's offsets (32- or 64-bit) and bytes."""
    out = np.empty(len(wave), dtype=np.uint64)
    _hashes(wave, offsets, data, out)
    return out


@njit(**_JIT)
def _repeated(hashes, table, out):
    """Open addressing on the hash values themselves (0 marks a free slot, so the value 0
    is stored as 1: two keys whose hashes become equal are only both candidates)."""
    mask = np.uint64(len(table) - 1)
    seen_twice = np.zeros(len(table), np.bool_)
    for i in range(len(hashes)):
        h = hashes[i] if hashes[i] != 0 else np.uint64(1)
        s = (h * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(20) & mask
        while table[s] != 0 and table[s] != h:
            s = (s + np.uint64(1)) & mask
        if table[s] == h:
            seen_twice[s] = True
        table[s] = h
    for i in range(len(hashes)):
        h = hashes[i] if hashes[i] != 0 else np.uint64(1)
        s = (h * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(20) & mask
        while table[s] != h:
            s = (s + np.uint64(1)) & mask
        out[i] = seen_twice[s]


def repeated(hashes: np.ndarray) -> np.ndarray:
    """Which of the hash values occur more than once (every copy marked), in one pass over
    a table at most half full, where pandas' duplicated builds a general hash table."""
    size = 1
    while size < 2 * len(hashes):
        size <<= 1
    out = np.empty(len(hashes), dtype=np.bool_)
    _repeated(np.ascontiguousarray(hashes, dtype=np.uint64), np.zeros(size, np.uint64), out)
    return out
