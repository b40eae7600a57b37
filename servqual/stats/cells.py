"""Per-cell sums, and their sums up to wave × segment value (the marginals).

The accumulators of :mod:`.accumulators` count per *cell*: the respondents of one wave with one
value of every segment column at once. The tables the statistics read are per wave and
value of one segment column at a time (or per wave for the whole sample): each is a sum of
cells. :class:`CellRows` holds per-cell sums with their keys as integer codes, so the sums
up to each family of marginals are integer bincounts, not group-bys on text keys (which
cost more than the counting itself on small files).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..models import ALL

# Groups × keys up to which marginals are counted in an array of them all (else through a
# sort): up to this many, or this many per row summed.
_DENSE_LIMIT, _DENSE_PER_ROW = 1 << 22, 4


@dataclass
class CellRows:
    """Sums in long form: row ``r`` holds the sums of the key ``keys.iloc[key[r]]`` (level,
    id, measure …) in cell ``cell[r]``. A (cell, key) pair may occur in several rows (chunks
    of a stream); the marginals add them."""

    cell: np.ndarray  # int64, one per row
    key: np.ndarray  # int64, one per row: a row of ``keys``
    keys: pd.DataFrame  # the distinct keys
    sums: dict[str, np.ndarray]  # float64, one per row

    @classmethod
    def dense(cls, keys: pd.DataFrame, sums: dict[str, np.ndarray]) -> CellRows:
        """From arrays of cells × keys (every key in every cell)."""
        cells, k = next(iter(sums.values())).shape
        return cls(cell=np.repeat(np.arange(cells, dtype=np.int64), k),
                   key=np.tile(np.arange(k, dtype=np.int64), cells),
                   keys=keys.reset_index(drop=True),
                   sums={name: np.asarray(a, dtype=float).reshape(-1) for name, a in sums.items()})

    @classmethod
    def sparse(cls, cell: np.ndarray, key: np.ndarray, keys: pd.DataFrame,
               sums: dict[str, np.ndarray]) -> CellRows:
        return cls(cell=np.asarray(cell, dtype=np.int64), key=np.asarray(key, dtype=np.int64),
                   keys=keys.reset_index(drop=True),
                   sums={name: np.asarray(a, dtype=float) for name, a in sums.items()})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, keys: list[str], names: list[str]) -> CellRows:
        """From a tidy frame with columns ``cell``, ``keys`` and ``names``."""
        if not len(frame):
            return cls.empty(keys, names)
        code, distinct = _factorize_rows(frame[keys])
        return cls.sparse(frame["cell"].to_numpy(), code, distinct,
                          {n: frame[n].to_numpy(dtype=float) for n in names})

    @classmethod
    def empty(cls, keys: list[str], names: list[str]) -> CellRows:
        none = np.zeros(0, dtype=np.int64)
        return cls(cell=none, key=none, keys=pd.DataFrame(columns=keys),
                   sums={n: np.zeros(0) for n in names})

    @classmethod
    def concat(cls, parts: list[CellRows]) -> CellRows:
        """The rows of several parts (a key the parts share is one key)."""
        parts = [p for p in parts if len(p)] or parts[:1]
        offsets = np.cumsum([0] + [len(p.keys) for p in parts[:-1]])
        keys = pd.concat([p.keys for p in parts], ignore_index=True)
        same, distinct = _factorize_rows(keys)
        return cls(cell=np.concatenate([p.cell for p in parts]),
                   key=same[np.concatenate([p.key + o for p, o in zip(parts, offsets)])],
                   keys=distinct,
                   sums={n: np.concatenate([p.sums[n] for p in parts]) for n in parts[0].sums})

    def __len__(self) -> int:
        return len(self.cell)


def _factorize_rows(frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """A code per row of ``frame`` (equal rows, equal codes, in order of first appearance)
    and the distinct rows."""
    codes = np.zeros(len(frame), dtype=np.int64)
    for column in frame.columns:
        c, labels = pd.factorize(frame[column], use_na_sentinel=False)
        codes = codes * (len(labels) + 1) + c
        codes = pd.factorize(codes)[0]  # keep the code space small
    first = np.unique(codes, return_index=True)[1]
    return codes, frame.iloc[first].reset_index(drop=True)


def families(cells: pd.DataFrame, wave: str, columns: tuple[str, ...],
             whole: bool = True) -> list[tuple[str, np.ndarray, pd.DataFrame]]:
    """For the whole sample (when ``whole``) and each segment column: the group of each cell
    (−1: the cell has no value in that column) and each group's wave and value."""
    out = []
    for segment in ([ALL] if whole else []) + list(columns):
        by = [wave] if segment == ALL else [wave, segment]
        known = cells[by].notna().all(axis=1).to_numpy()
        code = np.full(len(cells), -1, dtype=np.int64)
        if known.any():
            code[known], labels = _factorize_rows(cells.loc[known, by])
        else:
            labels = pd.DataFrame(columns=by)
        labels = pd.DataFrame({wave: labels[wave].to_numpy(dtype=object), "segment": segment,
                               "value": ALL if segment == ALL else
                               labels[segment].to_numpy(dtype=object)})
        out.append((segment, code, labels))
    return out


def marginals(rows: CellRows, groups: list[tuple[str, np.ndarray, pd.DataFrame]]
              ) -> pd.DataFrame:
    """The sums of ``rows`` per group of cells and key, for each family of ``groups`` (from
    :func:`families`): one frame with the group's wave, segment and value, the key columns
    and the sums; a (group, key) is listed when any of its rows is present."""
    k = len(rows.keys)
    frames = []
    for _, code, labels in groups:
        group = code[rows.cell]
        ok = group >= 0
        flat = group[ok] * k + rows.key[ok]
        size = len(labels) * k
        if size <= max(_DENSE_LIMIT, _DENSE_PER_ROW * len(flat)):
            present = np.flatnonzero(np.bincount(flat, minlength=size))
            index = np.searchsorted(present, flat)
        else:
            present, index = np.unique(flat, return_inverse=True)
        out = labels.iloc[present // k].reset_index(drop=True)
        out = pd.concat([out, rows.keys.iloc[present % k].reset_index(drop=True)], axis=1)
        for name, values in rows.sums.items():
            out[name] = np.bincount(index, weights=values[ok], minlength=len(present))
        frames.append(out)
    return pd.concat(frames, ignore_index=True)
