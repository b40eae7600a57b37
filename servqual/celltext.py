"""Cell text as servqual writes it: bounded in length, and inert when opened in a spreadsheet.

A survey file is written by others: a cell may hold a spreadsheet formula (``=HYPERLINK(…)``,
``+1+cmd|' /C calc'!A0``) or megabytes of pasted junk. Everything servqual copies from a cell
into an output passes through here:

* :func:`bounded` cuts one text to a number of characters, saying visibly that it did and how
  long the text was: for a cell quoted in an error message (:data:`MESSAGE_CELL_CHARS`), and
  for any other label taken from the data.
* :func:`csv_column` makes one column of a CSV output safe: cells are bounded to
  :data:`CSV_CELL_CHARS` and text that a spreadsheet would run as a formula is neutralised
  by :func:`neutralise_formulas`. Numbers stay numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Excel holds at most 32,767 characters in a cell, counted in UTF-16 code units.
EXCEL_CELL_LIMIT = 32_767
# Longest CSV cell servqual writes, in characters (code points), the marker of a cut cell
# and its leading quote included. Half of Excel's limit: a character outside the Basic
# Multilingual Plane (an emoji, a rare CJK ideograph) is two UTF-16 code units to Excel.
CSV_CELL_CHARS = EXCEL_CELL_LIMIT // 2
# Longest cell text quoted in an error message or printed on the terminal, in characters.
MESSAGE_CELL_CHARS = 200

# Text starting with one of these is run as a formula (or DDE command) by spreadsheets:
# = + - @ (OWASP "CSV Injection"), TAB and CR, and the full-width = + - @ (U+FF1D, U+FF0B,
# U+FF0D, U+FF20), which an East Asian input method types and which spreadsheets may read
# as their ASCII forms.
_TRIGGER = "^[=+\\-@\t\r\uff1d\uff0b\uff0d\uff20]"
# A plain number (after NFKC: full-width digits and signs count): harmless as a formula, and
# a reader expects to see it unchanged. No "inf": a spreadsheet takes it for a name.
_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"


def bounded(text: str, limit: int = MESSAGE_CELL_CHARS) -> str:
    """``text`` if it has at most ``limit`` characters, else its start and a marker.

    Parameters
    ----------
    text : str
        Text taken from the data (a cell, a column name, a label).
    limit : int
        Most characters of the result, marker included; at least 64.

    Returns
    -------
    str
        ``text`` unchanged, or its first characters followed by
        ``…[truncated: 5,242,880 characters in all]`` (the length of ``text``), so that
        nothing is cut silently.
    """
    if len(text) <= limit:
        return text
    marker = f"…[truncated: {len(text):,} characters in all]"
    return text[:max(limit - len(marker), 0)] + marker


def quoted(value: object, limit: int = MESSAGE_CELL_CHARS) -> str:
    """``repr(value)`` for an error message, its text bounded by :func:`bounded`.

    One huge cell must not flood the terminal: a text value is cut to ``limit`` characters
    before it is quoted; any other value's ``repr`` is cut likewise.
    """
    if isinstance(value, str):
        return repr(bounded(value, limit))
    return bounded(repr(value), limit)


def neutralise_formulas(texts: pa.Array) -> pa.Array:
    """Text cells as a spreadsheet shows them as typed, never as formulas it runs.

    Follows OWASP "CSV Injection" (https://owasp.org/www-community/attacks/CSV_Injection):
    a cell starting with ``=``, ``+``, ``-``, ``@``, TAB or CR is prefixed with a single
    quote (``'``), so Excel and LibreOffice take it as text; the full-width ``＝ ＋ － ＠``
    are treated the same (an East Asian input method types them, and spreadsheets may read
    them as their ASCII forms). A cell that is a plain number (``-5``, ``+3``, ``-0.5``,
    ``-1e3``, full-width digits too) is left as it is: as a formula it only gives itself,
    and the reader expects to see the number.

    The whole column is handled by Arrow compute kernels (no Python loop over cells).

    Parameters
    ----------
    texts : pyarrow.Array
        Strings; nulls stay null.

    Returns
    -------
    pyarrow.Array
        ``texts`` with ``'`` put before each cell that starts with a trigger and is not a
        plain number; the cells' own text follows unchanged.
    """
    trigger = _mask(pc.match_substring_regex(texts, _TRIGGER))
    if not trigger.any():
        return texts
    rows = np.flatnonzero(trigger)
    candidates = pc.utf8_normalize(texts.take(pa.array(rows)), form="NFKC")
    trigger[rows[_mask(pc.match_substring_regex(candidates, _NUMBER))]] = False
    return pc.if_else(pa.array(trigger), pc.utf8_replace_slice(texts, 0, 0, "'"), texts)


def csv_column(column: pd.Series, limit: int = CSV_CELL_CHARS) -> pd.Series:
    """One column as servqual writes it to a CSV: text bounded and inert, numbers as they are.

    Text cells longer than ``limit - 1`` characters are cut by :func:`bounded` (the cut is
    marked, with the original length), then :func:`neutralise_formulas` applies, so every
    written cell has at most ``limit`` characters. Numeric, boolean and date columns are
    returned unchanged; so are the numbers of a column mixing numbers and text (an Excel
    column). The column is returned as it is when no cell changes.

    Lengths and triggers are found by Arrow kernels over the whole column; only the cells
    that are cut are handled one by one, each longer than ``limit`` (at most the size of the
    file divided by ``limit`` of them).
    """
    is_text, texts = _texts(column)
    if texts is None:
        return column
    keep = limit - 1  # room for the quote neutralise_formulas may add
    long = np.flatnonzero(_mask(pc.greater(pc.utf8_length(texts), keep)))
    if len(long):
        cut = [bounded(text, keep) for text in texts.take(pa.array(long)).to_pylist()]
        replaced = np.zeros(len(texts), dtype=bool)
        replaced[long] = True
        texts = pc.replace_with_mask(texts, pa.array(replaced),
                                     pa.array(cut, type=pa.large_string()))
    safe = neutralise_formulas(texts)
    if safe is texts and not len(long):
        return column
    if is_text.all():
        return pd.Series(pd.arrays.ArrowExtensionArray(safe), index=column.index,
                         name=column.name)
    out = column.astype(object)  # numbers among the text: they keep their type
    out[is_text] = safe.to_numpy(zero_copy_only=False)[is_text]
    return out


def csv_frame(frame: pd.DataFrame, limit: int = CSV_CELL_CHARS) -> pd.DataFrame:
    """``frame`` as servqual writes it to a CSV: :func:`csv_column` applied to each column and
    to the column names (a header cell is a cell too)."""
    before = [frame.iloc[:, j] for j in range(frame.shape[1])]
    after = [csv_column(column, limit) for column in before]
    names = [str(name) for name in frame.columns]
    header = csv_column(pd.Series(names, dtype=object), limit).tolist()
    if header == names and all(a is b for a, b in zip(after, before)):
        return frame
    return pd.DataFrame(dict(enumerate(after)), index=frame.index).set_axis(header, axis=1)


def _texts(column: pd.Series) -> tuple[np.ndarray, pa.Array | None]:
    """Which cells of ``column`` hold text, and the column as Arrow large strings (null
    where a cell is not text); ``None`` for a column without text."""
    none = np.zeros(len(column), dtype=bool), None
    if column.dtype == object:
        kind = pd.api.types.infer_dtype(column, skipna=True)  # one C-level pass
        if kind == "string":
            is_text = column.notna().to_numpy()
        elif kind in ("mixed", "mixed-integer"):  # e.g. an Excel column of numbers and text
            is_text = _IS_STR(column.to_numpy()).astype(bool)
        else:
            return none
        if not is_text.any():
            return none
        strings = column.to_numpy()[is_text]
        texts = np.full(len(column), None, dtype=object)
        texts[is_text] = strings
        return is_text, pa.array(texts, type=pa.large_string())
    if not isinstance(column.dtype, (pd.StringDtype, pd.ArrowDtype, pd.CategoricalDtype)):
        return none
    arrow = pa.array(column, from_pandas=True)
    kind = arrow.type.value_type if pa.types.is_dictionary(arrow.type) else arrow.type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_string_view(kind)):
        return none
    texts = pc.cast(arrow, pa.large_string())
    return np.ones(len(column), dtype=bool), (
        texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts)


_IS_STR = np.frompyfunc(lambda value: isinstance(value, str), 1, 1)


def _mask(flags: pa.Array) -> np.ndarray:
    """A boolean Arrow result as a NumPy mask, null as False."""
    return pc.fill_null(flags, False).to_numpy(zero_copy_only=False).astype(bool, copy=True)
