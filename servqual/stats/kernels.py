"""Compiled loops of the aggregation: one pass over a chunk of respondents per table.

numpy needs a pass over the data for every operation (mask, code, index, count …); for a
million respondents × 22 items that came to some forty passes and 0.7 s, where the counting
itself is a few tens of milliseconds. These loops, compiled by numba, do each table in one
pass and add into the running totals in place. They release the GIL, so the chunk streams
of :mod:`.aggregate` run on every core.

Each kernel is the plain arithmetic of its docstring; what the numbers mean is described in
:mod:`.aggregate` and :mod:`.coded`, and tests/test_aggregate.py checks every table against
numpy and pandas computations of the same sums.

The answer matrices are passed whole with a range of rows (``first``, ``last``), typed as
column-major (:func:`column_major`): compiled loops over a column known to be contiguous are
vectorised, over one of unknown stride they are not (3× slower on a million respondents).

Compiled code is cached beside this file (or in the user's cache directory where that is not
writable), so only the first run after installing pays the compilation (a few seconds).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
BLOCK = 2048  # respondents per block: a block's per-dimension sums stay in the L1/L2 cache


def column_major(matrix: np.ndarray) -> np.ndarray:
    """A matrix whose columns are each contiguous, typed as a column-major one.

    Validation keeps the valid rows at the top of a taller column-major matrix, so the
    columns are contiguous but not adjacent. Seen through the parent's full height, the
    matrix is column-major; the kernels read only the rows they are given, which lie within
    the original matrix.
    """
    if matrix.flags.f_contiguous:
        return matrix
    if matrix.strides[0] != matrix.itemsize or matrix.strides[1] % matrix.itemsize:
        return np.asfortranarray(matrix)
    height = matrix.strides[1] // matrix.itemsize
    return np.lib.stride_tricks.as_strided(matrix, shape=(height, matrix.shape[1]),
                                           writeable=False)


@njit(**_JIT)
def _codes(column, low, top, out):
    """Answer codes ``x − low + 1`` of a column into ``out`` (0 = missing); the number of
    answers that are not integers in ``low..low + top − 1``."""
    offset, high = low - 1.0, low + top - 1.0
    bad = 0
    for r in range(column.shape[0]):  # no branches: the loop is vectorised
        x = column[r]
        code = np.int32(x - offset) if (x >= low) & (x <= high) else np.int32(0)
        out[r] = code
        bad += np.int32(x == x) & np.int32((code == 0) | (code + offset != x))
    return bad


@njit(**_JIT)
def _add_item(ce, cp, levels, pairs, count, sum_e, sum_p, count_perf, sum_perf):
    """One item's pair codes, and its part of the per-respondent dimension sums."""
    for r in range(ce.shape[0]):
        e, p = ce[r], cp[r]
        both = np.int32(e > 0) & np.int32(p > 0)
        pairs[r] = e * levels + p
        count[r] += both
        sum_e[r] += both * e
        sum_p[r] += both * p
        count_perf[r] += np.int32(p > 0)
        sum_perf[r] += p


@njit(**_JIT)
def coded_pairs(expectation, perception, first, last, low, top, cell, weight, weighted,
                item_dim, needed, base, pair_counts, pair_w, pair_w2, dim_counts, dim_w, dim_w2,
                dim_scores):
    """Item answer pairs and dimension scores of respondents first..last−1 whose answers
    are integers on a ``low..`` scale. Returns False as soon as an answer is not one: the
    totals are then incomplete, and the caller takes the float path.

    For respondent ``i`` (cell ``cell[i]``, weight ``weight[i]``) and item ``j`` the answers
    are coded ``c = x − low + 1`` (0 = missing; ``top`` = the highest code). Adds in place:

    * ``pair_counts[cell, j, ce·(top+1) + cp]``: respondents with that pair of codes
      (``pair_w``, ``pair_w2``: Σw and Σw² when ``weighted``);
    * per dimension ``d`` (``item_dim[j]``) and measure m = expectation, perception, gap,
      SERVPERF, for respondents with enough items (``count ≥ needed[d]`` paired items;
      SERVPERF: perception items): ``dim_counts[m, cell, d, v]``, where the score is
      ``num / count`` (num = the sum of codes, or of code differences for the gap) and ``v``
      is ``base[count − 1]`` + num − count (gap: + num + count·(top − 1)); nothing when
      ``dim_counts`` has no room for values.

    ``dim_scores[m, i − first, d]`` receives each respondent's dimension scores as floats
    (NaN without enough items), which the overall scores are built from.
    """
    k = expectation.shape[1]
    dims = needed.shape[0]
    levels = top + 1
    span = dim_counts.shape[3]
    offset = low - 1.0
    # per dimension and respondent of a block: paired count, Σe, Σp, perception count, Σp
    acc = np.zeros((5, dims, BLOCK), np.int32)
    pairs = np.zeros(BLOCK, np.int32)
    ce, cp = np.zeros(BLOCK, np.int32), np.zeros(BLOCK, np.int32)
    for start in range(first, last, BLOCK):
        rows = min(start + BLOCK, last) - start
        acc[:] = 0
        for j in range(k):
            d = item_dim[j]
            if (_codes(expectation[start:start + rows, j], low, top, ce)
                    or _codes(perception[start:start + rows, j], low, top, cp)):
                return False
            _add_item(ce[:rows], cp[:rows], levels, pairs, acc[0, d], acc[1, d], acc[2, d],
                      acc[3, d], acc[4, d])
            for r in range(rows):
                g, pair = cell[start + r], pairs[r]
                pair_counts[g, j, pair] += 1.0
                if weighted:
                    w = weight[start + r]
                    pair_w[g, j, pair] += w
                    pair_w2[g, j, pair] += w * w
        for d in range(dims):
            for m in range(4):
                counted = 3 if m == 3 else 0
                for r in range(rows):
                    i = start + r
                    count = acc[counted, d, r]
                    if count == 0 or count < needed[d]:
                        dim_scores[m, i - first, d] = np.nan
                        continue
                    if m == 2:
                        num = acc[2, d, r] - acc[1, d, r]
                        dim_scores[m, i - first, d] = num / count
                    else:
                        num = acc[m + 1, d, r]  # Σe, Σp, or Σp over perception items
                        dim_scores[m, i - first, d] = num / count + offset
                    if span:
                        v = base[count - 1] + num + (count * (top - 1) if m == 2 else -count)
                        g = cell[i]
                        dim_counts[m, g, d, v] += 1.0
                        if weighted:
                            w = weight[i]
                            dim_w[m, g, d, v] += w
                            dim_w2[m, g, d, v] += w * w
    return True


@njit(**_JIT)
def float_moments(values, cell, weight, weighted, column, sums):
    """Per cell and column of ``values`` (NaN = no score): n, Σx, Σx² added into
    ``sums[0..2, cell, column + j]``, and with ``weighted`` Σw, Σw·x, Σw·x², Σw², Σw²·x,
    Σw²·x² into ``sums[3..8, …]``."""
    n, k = values.shape
    for j in range(k):
        c = column + j
        for i in range(n):
            x = values[i, j]
            if math.isnan(x):
                continue
            g = cell[i]
            sums[0, g, c] += 1.0
            sums[1, g, c] += x
            sums[2, g, c] += x * x
            if weighted:
                w = weight[i]
                sums[3, g, c] += w
                sums[4, g, c] += w * x
                sums[5, g, c] += w * x * x
                w2 = w * w
                sums[6, g, c] += w2
                sums[7, g, c] += w2 * x
                sums[8, g, c] += w2 * x * x


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _dot(x, y):
    """Σ x·y in any order (exact for answers on a scale; vectorised)."""
    s = 0.0
    for r in range(x.shape[0]):
        s += x[r] * y[r]
    return s


@njit(**_JIT)
def cross_products(answers, first, last, wave, item_dim, position, kind, n_out, sum_out,
                   cross_out):
    """Listwise sums for reliability: for each respondent ``i`` of first..last−1 and dimension
    ``d`` whose items all have an answer in ``answers`` (the battery ``kind``), add 1 to
    ``n_out[wave[i], kind, d]``, each answer to ``sum_out[…, d, position[j]]`` and each
    product of two answers (``position[a] ≤ position[b]``) to ``cross_out[…, d, a, b]``."""
    k = answers.shape[1]
    dims = n_out.shape[2]
    size = sum_out.shape[3]
    columns = np.full((dims, size), -1, np.int64)  # the items of each dimension
    for j in range(k):
        columns[item_dim[j], position[j]] = j
    block = np.zeros((size, BLOCK))  # a dimension's answers, 0 where not complete
    complete = np.zeros(BLOCK)
    for start in range(first, last, BLOCK):
        rows = min(start + BLOCK, last) - start
        low_wave, high_wave = wave[start], wave[start]
        for i in range(start, start + rows):
            low_wave, high_wave = min(low_wave, wave[i]), max(high_wave, wave[i])
        for d in range(dims):
            m = 0
            while m < size and columns[d, m] >= 0:
                m += 1
            if m == 0:
                continue
            for w in range(low_wave, high_wave + 1):
                for r in range(rows):
                    complete[r] = 1.0 if wave[start + r] == w else 0.0
                for a in range(m):
                    column = answers[start:start + rows, columns[d, a]]
                    for r in range(rows):
                        if column[r] != column[r]:  # NaN: not answered
                            complete[r] = 0.0
                total = _dot(complete[:rows], complete[:rows])
                if total == 0:
                    continue
                n_out[w, kind, d] += total
                for a in range(m):
                    column = answers[start:start + rows, columns[d, a]]
                    x = block[a, :rows]
                    for r in range(rows):
                        x[r] = column[r] if complete[r] else 0.0
                    sum_out[w, kind, d, a] += _dot(x, complete[:rows])
                for a in range(m):
                    for b in range(a, m):
                        cross_out[w, kind, d, a, b] += _dot(block[a, :rows], block[b, :rows])


@njit(**_JIT)
def row_mean(values):
    """Per row, the mean of the values that are not NaN (NaN when there are none)."""
    n, k = values.shape
    out = np.empty(n)
    for i in range(n):
        total, count = 0.0, 0
        for j in range(k):
            x = values[i, j]
            if x == x:
                total += x
                count += 1
        out[i] = total / count if count else np.nan
    return out


@njit(**_JIT)
def weighted_sum(values, weights):
    """Per row, Σ w·x over the columns where both are present, with the weights rescaled to
    sum to 1 over those (NaN when their sum is not positive)."""
    n, k = values.shape
    out = np.empty(n)
    for i in range(n):
        total, wsum = 0.0, 0.0
        for j in range(k):
            x, w = values[i, j], weights[i, j]
            if x == x and w == w:
                total += w * x
                wsum += w
        out[i] = total / wsum if wsum > 0 else np.nan
    return out


@njit(**_JIT)
def allocation_weights(points, tolerance, weights, counts):
    """Importance points (respondents × dimensions) as fractions of each respondent's total,
    into ``weights`` (a NaN row where unusable). Adds to ``counts``: used, rescaled (total
    not within ``tolerance`` of 100), all zero, missing or negative."""
    n, k = points.shape
    for i in range(n):
        total, invalid = 0.0, False
        for j in range(k):
            x = points[i, j]
            invalid |= (x != x) | (x < 0)
            total += x
        usable = not invalid and total != 0
        for j in range(k):
            weights[i, j] = points[i, j] / total if usable else np.nan
        if invalid:
            counts[3] += 1
        elif total == 0:
            counts[2] += 1
        else:
            counts[0] += 1
            if abs(total - 100.0) > tolerance:
                counts[1] += 1


@njit(**_JIT)
def driver_sums(x, y, weight, wave, group, latest, width, sums, grouped):
    """Key-driver sums (:func:`servqual.stats.drivers.design_rows`, row by row): for each
    respondent ``r`` of weight ``v = weight[r]``, outcome ``o`` and basis ``s`` (block
    ``c = o · bases + s`` of ``width`` columns) where z = (x[s, r, :], y[o, r]) has no NaN,
    add [1, v, v·z, v·z_a·z_b for a ≤ b] to ``grouped[group[r], block]`` if
    ``wave[r] == latest``, else to ``sums[wave[r], block]``."""
    bases, m, d = x.shape
    k = d + 1
    z = np.empty(k)
    for r in range(m):
        w = wave[r]
        v = weight[r]
        row = grouped[group[r]] if w == latest else sums[w]
        for o in range(y.shape[0]):
            if y[o, r] != y[o, r]:
                continue
            for s in range(bases):
                complete = True
                for j in range(d):
                    z[j] = x[s, r, j]
                    complete &= z[j] == z[j]
                if not complete:
                    continue
                z[d] = y[o, r]
                at = (o * bases + s) * width
                row[at] += 1.0
                row[at + 1] += v
                for j in range(k):
                    row[at + 2 + j] += v * z[j]
                at += 2 + k
                for a in range(k):
                    vz = v * z[a]
                    for b in range(a, k):
                        row[at] += vz * z[b]
                        at += 1
