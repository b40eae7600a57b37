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
import pyarrow as pa

from .instrument.outcomes import outcome_column
from .quarantine import SOURCE

# Columns of Responses.meta with a fixed meaning; segment columns keep their own names.
WAVE = "wave"
RESPONDENT = "respondent_id"
WEIGHT = "sampling_weight"
OVERALL_SATISFACTION = outcome_column("satisfaction")
ANSWER_DTYPE = np.float32


def importance_column(dimension: str) -> str:
    return f"importance:{dimension}"


def item_importance_column(item: str) -> str:
    """The meta column of an item's importance rating (``importance = "I01"``)."""
    return f"item_importance:{item}"


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

    def to_batch(self) -> pa.RecordBatch:
        """The respondents as an Arrow record batch: what the engines hand the accumulators.

        Columns: the meta columns (labels dictionary-encoded), then one float32 column per
        item and battery, named ``e:<id>``, ``p:<id>`` (``a:<id>`` for adequate), NaN for a
        missing answer (the layout of the history store's respondent rows). No answer is copied: each column is a view of its matrix column.
        """
        columns, names = [], []
        for name in self.meta.columns:
            series = self.meta[name]
            if isinstance(series.dtype, pd.CategoricalDtype):
                array = pa.DictionaryArray.from_arrays(
                    pa.array(series.cat.codes.to_numpy(), mask=series.isna().to_numpy()),
                    pa.array(series.cat.categories.astype(str), pa.string()))
            else:
                array = pa.array(series, from_pandas=True)
                if isinstance(array, pa.ChunkedArray):
                    array = array.combine_chunks()
            columns.append(array)
            names.append(name)
        for prefix, matrix in self._batteries():
            for j, item in enumerate(self.item_ids):
                columns.append(pa.array(matrix[:, j]))
                names.append(f"{prefix}:{item}")
        return pa.RecordBatch.from_arrays(columns, names=names)

    @classmethod
    def from_batch(cls, batch: pa.RecordBatch | pa.Table, item_ids: tuple[str, ...],
                   segments: tuple[str, ...]) -> Responses:
        """Respondents from a record batch laid out as :meth:`to_batch` writes it (from any
        engine: an in-memory batch, DuckDB's staging table, a worker of a cluster)."""
        names = batch.schema.names
        answers = {}
        for prefix in BATTERIES.values():
            if f"{prefix}:{item_ids[0]}" in names:
                answers[prefix] = _matrix([batch.column(f"{prefix}:{i}") for i in item_ids],
                                          batch.num_rows)
        answer_names = {f"{prefix}:{i}" for prefix in BATTERIES.values() for i in item_ids}
        meta_names = [n for n in names if n not in answer_names]
        labels = {WAVE, SOURCE, *segments}
        meta = pd.DataFrame({n: _series(batch.column(n), n in labels) for n in meta_names})
        return cls(item_ids=item_ids, expectation=answers["e"], perception=answers["p"],
                   adequate=answers.get("a"), meta=meta, segments=segments)

    def _batteries(self) -> list[tuple[str, np.ndarray]]:
        return [(prefix, getattr(self, name)) for name, prefix in BATTERIES.items()
                if getattr(self, name) is not None]

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


BATTERIES = {"expectation": "e", "perception": "p", "adequate": "a"}


def _matrix(columns: list, rows: int) -> np.ndarray:
    """A column-major float32 matrix of Arrow columns (NaN where null): a view, when the
    columns lie evenly spaced in one block of memory, as the columns of one matrix that
    :meth:`Responses.to_batch` wrote, else one copy."""
    arrays = [c.to_numpy(zero_copy_only=False) if not isinstance(c, pa.ChunkedArray)
              else c.combine_chunks().to_numpy(zero_copy_only=False) for c in columns]
    arrays = [a if a.dtype == ANSWER_DTYPE else a.astype(ANSWER_DTYPE) for a in arrays]
    first = arrays[0]
    step = arrays[1].ctypes.data - first.ctypes.data if len(arrays) > 1 else 0
    if rows and step >= rows * first.itemsize and all(
            a.ctypes.data == first.ctypes.data + j * step and a.strides[0] == first.itemsize
            for j, a in enumerate(arrays)):
        return np.asarray(_Columns(arrays, step))
    out = np.empty((rows, len(arrays)), dtype=ANSWER_DTYPE, order="F")
    for j, a in enumerate(arrays):
        out[:, j] = a
    return out


class _Columns:
    """Evenly spaced columns seen as one matrix; the matrix keeps every column alive (its
    ``base``), whichever memory each lies in."""

    def __init__(self, arrays: list[np.ndarray], step: int) -> None:
        self.arrays = arrays
        first = arrays[0]
        self.__array_interface__ = {
            "data": (first.ctypes.data, True), "shape": (len(first), len(arrays)),
            "strides": (first.itemsize, step), "typestr": first.dtype.str, "version": 3}


def _series(column, label: bool) -> pd.Series:
    """A meta column of a record batch as the validated meta holds it: labels (``label``)
    categorical, other text as Arrow-backed strings, numbers as numpy."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if label and (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = column.dictionary_encode()
    if pa.types.is_dictionary(column.type):
        return pd.Series(pd.Categorical.from_codes(
            column.indices.to_numpy(zero_copy_only=False).astype(np.int64) if not
            column.indices.null_count else np.asarray(column.indices.fill_null(-1)),
            categories=column.dictionary.to_pylist()))
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pd.Series(pd.arrays.ArrowStringArray(column))
    return pd.Series(column.to_numpy(zero_copy_only=False))


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
