"""Compiled hashing for the duplicate rule (:mod:`.duplicates`): which rows may repeat a
respondent key.

Finding repeated (wave, respondent id) keys among a million rows with pandas takes 0.2–0.6 s
(factorizing or hashing the id strings); these loops read the Arrow string buffers in place
and take 0.02 s to hash and 0.03 s to find the repeated hashes. They only find candidates:
the exact keys of the candidate rows decide (:func:`.duplicates.find`).
tests/test_duplicates.py checks both against pandas.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@njit(**_JIT)
def _hashes(wave, offsets, data, out):
    for i in range(len(out)):
        h = np.uint64(wave[i]) * np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(
            offsets[i + 1] - offsets[i])
        for b in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[b])) * np.uint64(0x100000001B3)
        out[i] = h


def key_hashes(wave: np.ndarray, offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """A 64-bit hash (FNV-1a over the bytes, seeded with the wave's seed and the length) of
    each row's (wave, id): equal keys, equal hashes. ``offsets`` and ``data`` are an Arrow
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
