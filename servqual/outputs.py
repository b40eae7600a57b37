"""Writing outputs all-or-nothing: a failed run leaves no partial file behind.

Outputs are first written to hidden temporary files beside their destination and only moved
into place (an atomic rename) once every output of the run has been written. If anything
fails on the way, the temporary files are removed and the destinations are untouched.

CSV files are written for spreadsheets: a cell copied from a survey file never runs there as
a formula, and never exceeds what a spreadsheet cell holds (:func:`csv_frame`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .celltext import CSV_CELL_CHARS, bounded
from .errors import OutputError


class OutputSet:
    """Stage several outputs, then commit them together.

    Use as a context manager: leaving the block normally commits, an exception discards.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.commit()
        else:
            self.discard()
        return False

    def _temp_for(self, dest: Path) -> Path:
        dest = Path(dest)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
            os.close(fd)
        except OSError as err:
            raise OutputError(f"cannot write here: {err.strerror}", file=dest) from err
        if dest.is_dir():
            Path(name).unlink(missing_ok=True)
            raise OutputError("is a directory", file=dest)
        temp = Path(name)
        self._staged.append((temp, dest))
        return temp

    def write_text(self, dest: str | Path, text: str) -> None:
        temp = self._temp_for(Path(dest))
        try:
            temp.write_text(text, encoding="utf-8")
        except OSError as err:
            raise OutputError(f"cannot write: {err.strerror}", file=dest) from err

    def write_bytes(self, dest: str | Path, data: bytes) -> None:
        temp = self._temp_for(Path(dest))
        try:
            temp.write_bytes(data)
        except OSError as err:
            raise OutputError(f"cannot write: {err.strerror}", file=dest) from err

    def write_csv(self, dest: str | Path, frame: pd.DataFrame) -> None:
        """CSV in UTF-8 with a byte-order mark, so Excel opens Chinese text correctly.

        Cells and column names go through :func:`csv_frame`: text that a spreadsheet would run
        as a formula gets a leading ``'``, overlong text is cut with a visible marker, numbers
        are written as numbers. Lines end in CRLF (RFC 4180): the csv module quotes a cell
        holding a character of the line terminator, so a cell holding a lone CR is quoted too
        (with LF alone it was written bare, and a spreadsheet split the row there).
        """
        temp = self._temp_for(Path(dest))
        safe = csv_frame(frame)
        try:
            safe.to_csv(temp, index=False, encoding="utf-8-sig", lineterminator="\r\n")
        except OSError as err:
            raise OutputError(f"cannot write: {err.strerror}", file=dest) from err

    def temp_path(self, dest: str | Path) -> Path:
        """A staged path for a writer that needs a file name (e.g. a browser printing a PDF)."""
        return self._temp_for(Path(dest))

    def commit(self) -> None:
        done: list[Path] = []
        mode = 0o666 & ~_umask()
        try:
            for temp, dest in self._staged:
                os.chmod(temp, mode)  # mkstemp makes files private; outputs follow the umask
                os.replace(temp, dest)
                done.append(dest)
        except OSError as err:
            self.discard()
            for path in done:  # all or nothing: do not leave half of a run's outputs
                path.unlink(missing_ok=True)
            raise OutputError(f"cannot move the finished output into place: {err.strerror}",
                              file=dest) from err
        self._staged.clear()

    def discard(self) -> None:
        for temp, _ in self._staged:
            temp.unlink(missing_ok=True)
        self._staged.clear()

    @property
    def destinations(self) -> list[Path]:
        return [dest for _, dest in self._staged]


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


# Text starting with one of these is run as a formula (or DDE command) by spreadsheets:
# = + - @ (OWASP "CSV Injection"), TAB and CR, and the full-width = + - @ (U+FF1D, U+FF0B,
# U+FF0D, U+FF20), which an East Asian input method types and which spreadsheets may read
# as their ASCII forms.
_TRIGGER = "^[=+\\-@\t\r\uff1d\uff0b\uff0d\uff20]"
# A plain number (after NFKC: full-width digits and signs count): harmless as a formula, and
# a reader expects to see it unchanged. No "inf": a spreadsheet takes it for a name.
_NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"


def neutralise_formulas(texts: pa.Array) -> pa.Array:
    """Text cells as a spreadsheet shows them as typed, never as formulas it runs.

    Follows OWASP "CSV Injection" (https://owasp.org/www-community/attacks/CSV_Injection):
    a cell starting with ``=``, ``+``, ``-``, ``@``, TAB or CR is prefixed with a single
    quote (``'``), so that a spreadsheet shows it as text; the full-width ``＝ ＋ － ＠``
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
