"""How much of a cell's text servqual puts into an output: one bound, one visible marker.

A survey file is written by others: a cell may hold megabytes of pasted junk. Text copied
from the data into a message, a label or a CSV cell is cut by :func:`bounded`, which says
visibly that it cut and how long the text was; :func:`quoted` is its form for error
messages. The CSV writer (:mod:`servqual.outputs`) cuts to :data:`CSV_CELL_CHARS`, messages
and the terminal to :data:`MESSAGE_CELL_CHARS`.

Pure Python, so that importing it (from :mod:`servqual.errors`) loads no data library.
"""

from __future__ import annotations

import hashlib
from typing import Any

# Excel holds at most 32,767 characters in a cell, counted in UTF-16 code units.
EXCEL_CELL_LIMIT = 32_767
# Longest CSV cell servqual writes, in characters (code points), the marker of a cut cell
# and its leading quote included. Half of Excel's limit: a character outside the Basic
# Multilingual Plane (an emoji, a rare CJK ideograph) is two UTF-16 code units to Excel.
CSV_CELL_CHARS = EXCEL_CELL_LIMIT // 2
# Longest cell text quoted in an error message or printed on the terminal, in characters.
MESSAGE_CELL_CHARS = 200
# Longest label taken from the data (a segment value, a unit, a wave) in the JSON and the
# report, and the hex digits of the hash that keeps shortened labels distinct.
LABEL_MAX_CHARS = 80
_LABEL_HASH_CHARS = 8


def bounded(text: str, limit: int = MESSAGE_CELL_CHARS) -> str:
    """``text`` if it has at most ``limit`` characters, else its start and a marker.

    Parameters
    ----------
    text : str
        Text taken from the data (a cell, a column name, a label).
    limit : int
        Most characters of the result, marker included. It should leave room for the
        marker (about 45 characters): below that, a cut text is the marker alone.

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


def bound_label(label: Any) -> Any:
    """A label of at most ``LABEL_MAX_CHARS`` characters: a longer one is cut and ends with
    "…" and the first hex digits of its SHA-1, so two long labels that begin alike still
    read differently, and the same label is shortened the same way in every output.
    Anything but a text passes unchanged."""
    if not isinstance(label, str) or len(label) <= LABEL_MAX_CHARS:
        return label
    digest = hashlib.sha1(label.encode("utf-8", "surrogatepass")).hexdigest()
    head = label[:LABEL_MAX_CHARS - _LABEL_HASH_CHARS - 3].rstrip()
    return f"{head}…[{digest[:_LABEL_HASH_CHARS]}]"


def is_number(text: str) -> bool:
    """Whether a text reads as a number (Python's float: blanks around it allowed)."""
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


# Fields of the JSON results that hold a label from the data (a segment value, a wave).
LABEL_FIELDS = frozenset({
    "value", "unit", "best_unit", "peer", "segment_value",
    "wave", "waves", "current_wave", "previous_wave", "first_wave", "last_wave",
    "perception_first_wave", "perception_last_wave", "waves_missing", "waves_asked"})


def bound_labels(record: Any) -> Any:
    """The results with every label field (``LABEL_FIELDS``) bounded by :func:`bound_label`.

    A cell of the data can hold anything (a pasted 5 MB blob in the region column); its
    label is repeated in many rows of the results and of the report, so one oversized cell
    would otherwise multiply into hundreds of megabytes. Texts built around a label (a
    strategy naming the unit below its peers) get the same shortened label.
    """
    long: dict[str, str] = {}

    def walk(node: Any, key: str | None) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, key) for v in node]
        if key in LABEL_FIELDS and isinstance(node, str) and len(node) > LABEL_MAX_CHARS:
            long[node] = bound_label(node)
            return long[node]
        return node

    out = walk(record, None)
    if not long:
        return out
    order = sorted(long, key=len, reverse=True)

    def shorten(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: shorten(v) for k, v in node.items()}
        if isinstance(node, list):
            return [shorten(v) for v in node]
        if isinstance(node, str) and len(node) > LABEL_MAX_CHARS:
            for label in order:
                if label in node:
                    node = node.replace(label, long[label])
        return node

    return shorten(out)
