"""Validated responses in compact numeric form: what the statistics read.

Answers are kept as ``(respondents x items)`` float32 arrays, one per battery (expectation,
perception, adequate), already reverse-scored, with ``NaN`` for a missing answer. float32
holds every answer on a scale exactly (whole numbers, halves) in half the memory of float64;
statistics accumulate in float64. The arrays are column-major: each item's answers are
contiguous, as the file's columns were, which is what per-item work reads fastest (the
columns need not be adjacent: a matrix may be the top rows of a taller one).
Everything else about a respondent (wave, id, segments, weights, importance points) is in
``meta``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .quarantine import SOURCE, SOURCE_ROW

# Columns of Responses.meta with a fixed meaning; segment columns keep their own names.
WAVE = "wave"
RESPONDENT = "respondent_id"
WEIGHT = "sampling_weight"
OVERALL_SATISFACTION = "overall_satisfaction"
ANSWER_DTYPE = np.float32


def importance_column(dimension: str) -> str:
    return f"importance:{dimension}"


@dataclass
class Responses:
    item_ids: tuple[str, ...]
    expectation: np.ndarray
    perception: np.ndarray
    meta: pd.DataFrame
    adequate: np.ndarray | None = None
    segments: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        n, k = len(self.meta), len(self.item_ids)
        for name in ("expectation", "perception", "adequate"):
            arr = getattr(self, name)
            if arr is None:
                continue
            if arr.shape != (n, k):
                raise ValueError(f"{name} has shape {arr.shape}, expected {(n, k)}")
            # Each column contiguous is what matters (not the whole matrix: validation keeps
            # the valid rows at the top of a taller matrix, and copying them costs more than
            # everything the statistics then do with them).
            if arr.dtype != ANSWER_DTYPE or arr.strides[0] != arr.itemsize:
                setattr(self, name, np.asfortranarray(arr, dtype=ANSWER_DTYPE))

    def __len__(self) -> int:
        return len(self.meta)

    @property
    def waves(self) -> np.ndarray:
        return self.meta[WAVE].to_numpy()

    def rows(self, start: int, stop: int) -> Responses:
        """Respondents ``start`` up to ``stop`` (views of the answers, no copy)."""
        def part(matrix: np.ndarray | None) -> np.ndarray | None:
            return None if matrix is None else matrix[start:stop]

        return Responses(item_ids=self.item_ids, expectation=part(self.expectation),
                         perception=part(self.perception), adequate=part(self.adequate),
                         meta=self.meta.iloc[start:stop], segments=self.segments)

    def take(self, mask_or_index) -> Responses:
        """The respondents selected by a boolean mask or an integer index."""
        idx = np.asarray(mask_or_index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return Responses(
            item_ids=self.item_ids,
            expectation=_take_rows(self.expectation, idx),
            perception=_take_rows(self.perception, idx),
            adequate=None if self.adequate is None else _take_rows(self.adequate, idx),
            meta=self.meta.iloc[idx].reset_index(drop=True),
            segments=self.segments,
        )

    @classmethod
    def concat(cls, parts: list[Responses]) -> Responses:
        if not parts:
            raise ValueError("nothing to concatenate")
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        return cls(
            item_ids=first.item_ids,
            expectation=_stack_rows([p.expectation for p in parts]),
            perception=_stack_rows([p.perception for p in parts]),
            adequate=None if first.adequate is None else _stack_rows([p.adequate for p in parts]),
            meta=_concat_meta([p.meta for p in parts]),
            segments=first.segments,
        )


def _take_rows(matrix: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``matrix[idx]``, column by column when its columns are contiguous (as validation
    builds them): a gather along each column is several times faster than numpy's row-wise
    fancy indexing of a column-major array."""
    if matrix.strides[0] != matrix.itemsize or matrix.shape[1] < 2:
        return matrix[idx]
    out = np.empty((len(idx), matrix.shape[1]), dtype=matrix.dtype, order="F")
    for j in range(matrix.shape[1]):
        np.take(matrix[:, j], idx, out=out[:, j])
    return out


def _stack_rows(parts: list[np.ndarray]) -> np.ndarray:
    """Row-wise concatenation into one column-major matrix (one copy, no conversion)."""
    out = np.empty((sum(len(p) for p in parts), parts[0].shape[1]), dtype=ANSWER_DTYPE,
                   order="F")
    start = 0
    for part in parts:
        out[start:start + len(part)] = part
        start += len(part)
    return out


def _concat_meta(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate meta frames, keeping label columns categorical (pandas would make them object)."""
    out = pd.concat(frames, ignore_index=True)
    for column in frames[0].columns:
        if isinstance(frames[0][column].dtype, pd.CategoricalDtype) and column in out:
            out[column] = out[column].astype("category")
    return out
