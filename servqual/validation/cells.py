"""Cells: the numbers and labels a column holds, read through Arrow compute kernels.

Answers are parsed into the answer matrix (:func:`numbers_into`): whole numbers and decimals
as people type them (full-width digits too), blanks missing, anything else flagged as text
that is not a number. Labels (ids, waves, segment values) are stripped text, blank missing.
Each distinct text of a column is handled once, not once per cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..ingest.table import NULL_TOKENS
from ..instrument.answers import AnswerLabels
from ..responses import ANSWER_DTYPE

# A number as people type it: sign, digits, decimal point, exponent (after NFKC, so
# full-width digits count); "inf" too, as pyarrow reads it in a column of numbers.
_NUMBER = r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:inf(?:inity)?))$"


def arrow_column(series: pd.Series) -> pa.ChunkedArray:
    """The column as an Arrow array: zero-copy when it is Arrow-backed already."""
    if series.dtype == object:
        series = series.astype("string")
    array = series.array.__arrow_array__() if hasattr(series.array, "__arrow_array__") else (
        pa.array(series.to_numpy(), from_pandas=True))
    return array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])


def without_null_tokens(array: pa.ChunkedArray | pa.Array):
    """Cells that are exactly one of :data:`~servqual.ingest.table.NULL_TOKENS` ("NA", "N/A",
    "null", "#N/A" …, the texts exports write for "no value") as missing. The readers keep
    every text as written; an answer, a wave or a respondent id written so is missing, while
    a segment value is taken as written ("NA" may be North America)."""
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return array
    return pc.if_else(pc.is_in(array, pa.array(NULL_TOKENS, array.type)),
                      pa.scalar(None, array.type), array)


def dictionary_codes(array: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Dictionary codes of a column (-1 where missing) and its distinct values, from Arrow's
    hash kernel (several times faster than pandas' factorize of Arrow strings), or as read
    (a dictionary column: each chunk its own dictionary until unified)."""
    if pa.types.is_dictionary(array.type):
        encoded = array.unify_dictionaries()
    else:
        encoded = pc.dictionary_encode(array)
    if not encoded.num_chunks:
        return np.zeros(0, dtype=np.int64), pa.array([], array.type)
    codes = np.concatenate([pc.fill_null(c.indices, -1).to_numpy(zero_copy_only=False)
                            for c in encoded.chunks]).astype(np.int64)
    return codes, encoded.chunks[-1].dictionary  # chunks share one dictionary


def text_codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Dictionary codes of a text column (-1 where missing) and its distinct values."""
    codes, dictionary = dictionary_codes(arrow_column(series))
    return codes, dictionary.to_pylist()


def categorical(series: pd.Series, blank: str | None = None,
                tokens: bool = False) -> pd.Categorical:
    """A label column (segment, wave) as categories of stripped text, as :func:`text_column`
    would give; blank cells are missing, or ``blank`` when given; with ``tokens``, so are
    the texts of :func:`without_null_tokens`.

    The column is dictionary-encoded as read and only its few distinct values are cleaned,
    which saves cleaning a million copies of "East".
    """
    codes, values = text_codes(series)
    labels = text_column(pd.Series(values if values else [], dtype=None if values else "string"),
                         tokens=tokens)
    if blank is not None:
        labels = labels.fillna(blank)
        if (codes < 0).any():  # empty cells: the last slot of the lookup below
            labels = pd.concat([labels, pd.Series([blank], dtype=labels.dtype)],
                               ignore_index=True)
    known = labels.notna().to_numpy()
    categories, remap = np.unique(labels[known].to_numpy(dtype=object).astype(str),
                                  return_inverse=True)
    lookup = np.full(len(values) + 1, -1, dtype=np.int64)  # the last slot: missing cells
    lookup[np.flatnonzero(known)] = remap
    return pd.Categorical.from_codes(lookup[codes], categories=list(categories))


def _text(array: pa.ChunkedArray, normalize: bool) -> pa.ChunkedArray:
    """Cells as text without surrounding whitespace (NFKC-normalised when asked)."""
    text = pc.utf8_trim_whitespace(pc.cast(array, pa.large_string()))
    if normalize and not pc.all(pc.string_is_ascii(text)).as_py():
        text = pc.utf8_trim_whitespace(pc.utf8_normalize(text, "NFKC"))
    return text


@dataclass(frozen=True)
class AnswerScale:
    """The answers a column may hold: ``lo..hi`` and the missing codes.

    Answers are kept as float32 (:data:`~servqual.responses.ANSWER_DTYPE`), and the cast can
    move a value the file holds outside the scale onto an accepted one: ``1e-320`` becomes
    0, a missing code, and ``7.00000001`` becomes 7. Such a value is an answer out of scale,
    and :meth:`rounded_in` finds it.
    """

    lo: float
    hi: float
    codes: tuple[float, ...]

    def accepts(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            inside = (values >= self.lo) & (values <= self.hi)
        return inside | np.isin(values, self.codes)

    def rounded_in(self, exact: np.ndarray) -> np.ndarray:
        """Values (float64) accepted only once cast to the answers' float32."""
        with np.errstate(over="ignore"):
            near = exact.astype(ANSWER_DTYPE)
        return self.accepts(near) & ~self.accepts(exact)


def _fill(out: np.ndarray, array: pa.ChunkedArray, scale: AnswerScale | None = None) -> None:
    """Write numbers (integer or floating Arrow arrays) into ``out`` in its dtype, nulls NaN.

    Reads each chunk's value buffer in place and converts while copying: one pass over the
    data, no temporary array. With a ``scale``, a floating value the cast to ``out``'s dtype
    would move into the scale or onto a missing code is written as infinity (out of scale;
    see :class:`AnswerScale`). Whole numbers cannot move so, and are not looked at.
    """
    position = 0
    for chunk in array.chunks:
        n = len(chunk)
        if not n:
            continue
        target = out[position:position + n]
        validity, data = chunk.buffers()[:2]
        dtype = np.dtype(chunk.type.to_pandas_dtype())
        source = np.frombuffer(data, dtype=dtype)[chunk.offset:chunk.offset + n]
        with np.errstate(over="ignore"):  # beyond float32: infinite, so out of scale
            target[:] = source
        if scale is not None and dtype.kind == "f" and out.dtype != dtype:
            target[scale.rounded_in(source)] = np.inf
        if chunk.null_count:
            bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            target[bits[chunk.offset:chunk.offset + n] == 0] = np.nan
        position += n


def _plain_numbers(array: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """A text column whose every cell is a plain number (as ``1``, ``4.5``, ``1e-320``,
    ``inf``), as float64; ``None`` when any cell is something else, which the distinct texts
    then tell. Arrow's cast accepts a subset of :data:`_NUMBER` with the same values, and
    fails on anything else (blanks around a number, full-width digits, ``0x1F``) except
    ``nan``, which is looked for. Streamed files give their answers as text: the cast
    takes half the time of hashing the texts."""
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    try:
        numbers = pc.cast(array, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return None if pc.any(pc.is_nan(numbers)).as_py() else numbers


def numbers_into(series: pd.Series, out: np.ndarray, scale: AnswerScale | None = None,
                 labels: tuple[AnswerLabels, str] | None = None) -> np.ndarray:
    """Parse a column of answers into ``out`` (NaN when blank); return the mask of cells that
    hold text that is not a number (booleans and dates included). With a ``scale``, values
    outside it that ``out``'s dtype would round into it are written as infinity. With
    ``labels`` (the instrument's answer labels and the column's named set), a text that is
    not a number is read by them (:meth:`~servqual.instrument.answers.AnswerLabels.read`)."""
    array = arrow_column(series)
    kind = array.type
    none = np.zeros(len(series), dtype=bool)
    if pa.types.is_null(kind):
        out[:] = np.nan
        return none
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        _fill(out, pc.cast(array, pa.float64()) if pa.types.is_decimal(kind) else array, scale)
        return none
    numbers = _plain_numbers(array)
    if numbers is not None:
        _fill(out, numbers, scale)
        return none
    # Each distinct text is parsed once: a column of answers holds a handful of them, where
    # matching a million cells against the number pattern took 58 ms per column.
    codes, distinct = dictionary_codes(array)
    text = _text(pa.chunked_array([without_null_tokens(distinct)]), normalize=True)
    text = pc.fill_null(text, "")  # a "no value" text: blank, as an empty cell
    number = pc.match_substring_regex(text, _NUMBER)
    parsed = np.empty(len(distinct) + 1)  # the last slot: blank cells
    _fill(parsed[:-1], pc.cast(pc.if_else(number, text, pa.scalar(None, pa.large_string())),
                               pa.float64()))
    parsed[-1] = np.nan
    bad = pc.fill_null(pc.and_(pc.invert(number), pc.not_equal(text, "")), False)
    bad = np.append(bad.to_numpy(zero_copy_only=False), False)
    if labels is not None and bad.any():
        texted = np.flatnonzero(bad)
        read = labels[0].read(text.take(pa.array(texted)).to_pylist(), labels[1])
        for at, score in zip(texted, read):
            if score is not None:  # a label or the pattern reads it; NaN: a missing answer
                parsed[at], bad[at] = score, False
    if scale is not None and out.dtype != parsed.dtype:
        parsed[scale.rounded_in(parsed)] = np.inf
    with np.errstate(over="ignore"):  # beyond float32: infinite, so out of scale
        out[:] = parsed[codes]
    return bad[codes]


def as_written(series: pd.Series) -> pd.Series:
    """A column's cells as the file writes them: a whole number without ".0" (8, not 8.0, as
    pyarrow gives every number of a column holding a decimal, and the answers of a streamed
    file), other values as read; for the quarantine, which shows rows as the file holds them."""
    if not pd.api.types.is_float_dtype(series.dtype):
        return series
    values = series.to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(values) & (np.abs(values) < 2.0 ** 53) & (values == np.round(values))
    out = pd.Series(values.astype(object), index=series.index, name=series.name)
    out[whole] = [int(v) for v in values[whole]]
    out[np.isnan(values)] = None
    return out


def numeric_column(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Values as float64 (NaN when blank) and a mask of cells holding non-numeric text."""
    values = np.empty(len(series))
    return values, numbers_into(series, values)


def text_column(series: pd.Series, tokens: bool = False) -> pd.Series:
    """Labels (ids, waves, segment values) as stripped text; blank becomes missing, and
    with ``tokens`` the texts of :func:`without_null_tokens`.

    Whole numbers read as floats (Excel, SPSS) are written without '.0': 3.0 is the label "3".
    """
    array = arrow_column(series)
    text = _text(without_null_tokens(array) if tokens else array, normalize=False)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.large_string()), text)
    return pd.Series(pd.arrays.ArrowStringArray(text), index=series.index)


def respondent_ids(series: pd.Series) -> tuple[pd.arrays.ArrowStringArray, np.ndarray]:
    """Respondent ids as :func:`text_column` gives them, but "" where blank (or a text of
    :func:`without_null_tokens`), and the mask of blank ids. (Missing values filled
    afterwards in pandas cost 14 ms per 1,000,000 ids.)"""
    text = _text(without_null_tokens(arrow_column(series)), normalize=False)
    blank = pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
    return pd.arrays.ArrowStringArray(pc.fill_null(text, "")), blank
