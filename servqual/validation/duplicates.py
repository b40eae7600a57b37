"""Duplicates: one respondent given twice in a wave.

The rule (:func:`judge`). Among the rows that passed the row-level checks, rows with the same
wave and respondent id are copies of one respondent. By default (the instrument's
``duplicates = "quarantine"``), when the copies agree in everything the respondent gave
(:func:`content_digest`: the answers as parsed, the segments, the weight, the importance
points, the overall rating), the first copy in input order (file by file, row by row) is kept
and every later copy is a ``duplicate_respondent`` pointing at the row of the first; when they
disagree, none can be trusted and every copy is a ``duplicate_conflict``. Where people may
submit again (a Google Form), ``duplicates = "keep_last"`` keeps each respondent's last
submission and ``"keep_first"`` the first, whatever the others hold: the others are
``duplicate_respondent`` rows pointing at the one kept.

The rule is applied to all the rows of a run as one: within a file by :func:`find`, and to
the few respondents found in several files (or partitions of a file) by the engines, which
collect each table's :func:`key_hashes` and ask :func:`judge` about the keys they share.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa

from ..models import Reason
from ..quarantine import SOURCE, SOURCE_ROW
from ..responses import RESPONDENT, WAVE, Responses
from . import hashing
from .cells import arrow_column, text_codes


KEEP = ("quarantine", "keep_first", "keep_last")  # the instrument's duplicates = ...


def judge(group: np.ndarray, digest: np.ndarray, source_row: np.ndarray,
          keep: str = "quarantine") -> tuple[np.ndarray, np.ndarray]:
    """The duplicate rule over rows in input order.

    Parameters
    ----------
    group : ndarray of int
        The respondent of each row: equal for rows of one (wave, respondent id).
    digest : ndarray of uint64
        :func:`content_digest` of each row: equal when two copies agree.
    source_row : ndarray of int
        Each row's row number as the spreadsheet shows it.
    keep : {"quarantine", "keep_first", "keep_last"}
        The instrument's ``duplicates``: what becomes of copies that disagree.

    Returns
    -------
    reason : ndarray of int8
        0 (kept), ``Reason.duplicate_conflict`` or ``Reason.duplicate_respondent``.
    duplicate_of : ndarray of int64
        For a ``duplicate_respondent``, the row number of the first copy; else -1.

    Notes
    -----
    With ``c(g)`` the number of distinct digests among the rows of group ``g``: every row of
    a group with ``c(g) > 1`` is a conflict; otherwise the first row of the group is kept and
    each later one is a duplicate of it. With ``keep_first`` (``keep_last``) the first (last)
    row of every group is kept and each other one is a duplicate of it, and there is no
    conflict.
    """
    n = len(group)
    reason = np.zeros(n, dtype=np.int8)
    duplicate_of = np.full(n, -1, dtype=np.int64)
    if not n:
        return reason, duplicate_of
    codes = pd.factorize(group)[0]
    order = np.arange(n)
    conflict = np.zeros(n, dtype=bool)
    if keep == "quarantine":
        contents = pd.DataFrame({"g": codes, "d": digest}).drop_duplicates()
        distinct = np.bincount(contents["g"].to_numpy(), minlength=codes.max() + 1)
        conflict = distinct[codes] > 1
    first = pd.Series(order).groupby(codes).transform(
        "last" if keep == "keep_last" else "first").to_numpy()
    later = (order != first) & ~conflict
    reason[conflict] = Reason.duplicate_conflict
    reason[later] = Reason.duplicate_respondent
    duplicate_of[later] = np.asarray(source_row)[first[later]]
    return reason, duplicate_of


def respondent_columns(meta: pd.DataFrame) -> list[str]:
    """Columns that describe the respondent, not the row (segments, weights, importance)."""
    return [c for c in meta.columns if c not in (SOURCE, SOURCE_ROW, WAVE, RESPONDENT)]


def content_digest(responses: Responses) -> np.ndarray:
    """A 64-bit hash of what each respondent gave: the answers (as parsed, reverse-scored),
    the segments, weight, importance and overall rating, by value (the same respondent in
    another file hashes the same)."""
    answers = [responses.expectation, responses.perception]
    if responses.adequate is not None:
        answers.append(responses.adequate)
    content = pd.DataFrame(np.column_stack(answers) if len(responses) else
                           np.zeros((0, sum(a.shape[1] for a in answers))))
    others = responses.meta[respondent_columns(responses.meta)].reset_index(drop=True)
    for column in others.columns:  # labels by their text, however they are held
        if not pd.api.types.is_numeric_dtype(others[column].dtype):
            values = others[column].astype(object)
            others[column] = values.where(values.notna(), None)
    content = pd.concat([content, others], axis=1)
    content.columns = [str(c) for c in content.columns]
    return pd.util.hash_pandas_object(content, index=False).to_numpy()


def _label_seed(label: str) -> int:
    return int.from_bytes(hashlib.blake2b(label.encode("utf-8", "surrogatepass"),
                                          digest_size=8).digest(), "little")


def key_hashes(meta: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's (wave, respondent id): equal keys, equal hashes, in any
    table (the wave enters by its label). Rows with different keys may share a hash: the
    hashes find candidates, exact keys decide."""
    waves = pd.Categorical(meta[WAVE])
    seeds = np.array([_label_seed(str(c)) for c in waves.categories] + [0], dtype=np.uint64)
    codes = np.asarray(waves.codes, dtype=np.int64)
    ids = arrow_column(meta[RESPONDENT]).combine_chunks()
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
        ids = ids.cast(pa.large_string())
    width = np.int64 if pa.types.is_large_string(ids.type) else np.int32
    offsets = np.frombuffer(ids.buffers()[1], dtype=width)[ids.offset:ids.offset + len(ids) + 1]
    data = ids.buffers()[2]
    return hashing.key_hashes(seeds[codes], offsets, np.frombuffer(data, dtype=np.uint8)
                                if data is not None else np.zeros(0, dtype=np.uint8))


def exact_keys(meta: pd.DataFrame) -> np.ndarray:
    """One integer per (wave, respondent id) of these rows: equal for the same respondent."""
    wave = pd.factorize(meta[WAVE].astype(str))[0].astype(np.int64)
    codes, distinct = text_codes(meta[RESPONDENT])
    return wave * (len(distinct) + 1) + codes


def exact_key_labels(meta: pd.DataFrame) -> np.ndarray:
    """Each row's (wave, respondent id) as one text, for comparing rows of several tables."""
    return (meta[WAVE].astype(str).to_numpy(dtype=object) + "\x1f"
            + meta[RESPONDENT].astype(str).to_numpy(dtype=object))


def find(responses: Responses, among: np.ndarray | None = None,
         hashes: np.ndarray | None = None, keep: str = "quarantine"
         ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`judge` over the rows of one table (only those in ``among``, default all):
    reason codes and the row number of the first copy (-1: none), for every row.

    Cheap hashes (:func:`key_hashes`, of every row: ``hashes`` when already computed) first
    find the few rows that may repeat a key; exact keys and the content digests of those
    rows decide.
    """
    n = len(responses)
    reason = np.zeros(n, dtype=np.int8)
    first_row = np.full(n, -1, dtype=np.int64)
    hashes = key_hashes(responses.meta) if hashes is None else hashes
    idx = np.arange(n) if among is None else np.flatnonzero(among)
    idx = idx[hashing.repeated(hashes[idx])]
    if not len(idx):
        return reason, first_row
    sub = responses.take(idx)
    verdict, first = judge(exact_keys(sub.meta), content_digest(sub),
                           sub.meta[SOURCE_ROW].to_numpy(), keep)
    reason[idx] = verdict
    first_row[idx] = first
    return reason, first_row


def describe(rows: Responses, positions: np.ndarray, reason: np.ndarray, first: np.ndarray,
             straight: np.ndarray) -> pd.DataFrame:
    """Rows of a table that passed the row-level checks, as :func:`judge_shared` needs them:
    their file, position in the table, exact key, content digest and row number, the verdict
    of the table alone (``reason``, ``first``: :func:`find`'s), and whether each row is
    quarantined for straight-lining when kept."""
    return pd.DataFrame({
        "file": rows.meta[SOURCE].astype(str).to_numpy(), "position": positions,
        "key": exact_key_labels(rows.meta), "digest": content_digest(rows),
        "source_row": rows.meta[SOURCE_ROW].to_numpy(), "own_reason": reason,
        "own_first": first, "straight": straight})


def judge_shared(rows: pd.DataFrame, keep: str = "quarantine"
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The duplicate rule over the rows that several tables share a key with (each table
    described by :func:`describe`, in input order: table by table, row by row).

    Tables of one file (its partitions, such as the row groups of a Parquet file) are judged
    as the file would be alone: over all their rows. Across the files of a wave, the rule
    then judges the copies each file keeps (its first copy, unless that is quarantined for
    straight-lining), as when each file is checked on its own and the keys kept are compared.

    Returns
    -------
    reason, duplicate_of
        As :func:`judge`, for every row.
    """
    within = pd.factorize(rows["file"].to_numpy(dtype=object) + "\x1e"
                          + rows["key"].to_numpy(dtype=object))[0]
    digest, source_row = rows["digest"].to_numpy(), rows["source_row"].to_numpy()
    reason, first = judge(within, digest, source_row, keep)
    kept = np.flatnonzero((reason == 0) & ~rows["straight"].to_numpy(dtype=bool))
    across, across_first = judge(pd.factorize(rows["key"].to_numpy()[kept])[0],
                                 digest[kept], source_row[kept], keep)
    reason[kept], first[kept] = across, across_first
    return reason, first
