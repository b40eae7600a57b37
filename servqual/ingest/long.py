"""Long files (one row per respondent × item): which item a row is, and reassembly.

A long file is read like any other (CSV, Excel, SPSS); this module turns its rows into the
respondent × item matrices every later stage reads. Which rows may be reassembled is
decided by :mod:`servqual.validate`; these functions only move numbers, vectorised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..instrument import Instrument


def item_positions(codes: pd.Series, instrument: Instrument) -> np.ndarray:
    """The position in ``instrument.items`` of each row's item code; -1 when it names none.

    Codes are compared as text, surrounding whitespace removed (an item's ``code``, else its
    ``id``).
    """
    known = [item.long_code for item in instrument.items]
    return pd.Index(known).get_indexer(codes.astype(object)).astype(np.int64)


def respondents(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number respondents by their first row: ``(respondent of each row, first row of each)``.

    ``keys`` identifies the respondent of each row (equal keys, same respondent).
    """
    codes, uniques = pd.factorize(keys, sort=False)
    first = np.full(len(uniques), len(keys), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(keys), dtype=np.int64))
    return codes.astype(np.int64), first


def assemble(respondent: np.ndarray, item: np.ndarray, values: np.ndarray, n: int, k: int
             ) -> list[np.ndarray]:
    """Spread row values into one ``(n, k)`` matrix per column of ``values`` (NaN elsewhere).

    Parameters
    ----------
    respondent, item
        Row → respondent (0..n-1) and row → item position (0..k-1); each pair at most once.
    values
        One column per battery (expectation, perception, adequate), one row per input row.
    """
    out = []
    for column in range(values.shape[1]):
        matrix = np.full((n, k), np.nan)
        matrix[respondent, item] = values[:, column]
        out.append(matrix)
    return out
