"""The quarantine file: what servqual writes for rejected rows, and how to recognise one.

A quarantine file (``<file>.rejected.csv``) holds every rejected row of a survey file: the
columns :data:`QUARANTINE_COLUMNS` (where the row came from, why it was rejected, the
offending column and value, and for a duplicate the row of the first copy), then the row's
own values. ``servqual validate`` writes it beside its input, so a later
``servqual report surveys/*.csv`` would take it for a wave of survey responses: inputs that
are quarantine files are recognised by their header (:func:`is_quarantine_file`) and left
out, with a note.

Light on imports: the command line checks its inputs before anything else loads.
"""

from __future__ import annotations

import codecs
from pathlib import Path

SOURCE = "source_file"
SOURCE_ROW = "source_row"
QUARANTINE_COLUMNS = [SOURCE, SOURCE_ROW, "reason", "column", "value", "duplicate_of"]
SUFFIX = ".rejected.csv"

_HEADER = ",".join(QUARANTINE_COLUMNS).encode("ascii")


def quarantine_path(beside: Path) -> Path:
    """Where the quarantine file of ``beside`` (an input, or a report) is written."""
    return beside.with_name(beside.stem + SUFFIX)


def is_quarantine_file(path: Path) -> bool:
    """Whether ``path`` is a quarantine file servqual wrote: its header starts with
    :data:`QUARANTINE_COLUMNS` (after the UTF-8 byte-order mark servqual writes). A file that
    cannot be read is not judged here (the reader reports it)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(codecs.BOM_UTF8) + len(_HEADER) + 1)
    except OSError:
        return False
    head = head.removeprefix(codecs.BOM_UTF8)
    return head.startswith(_HEADER) and head[len(_HEADER):len(_HEADER) + 1] in (b",", b"\r",
                                                                              b"\n", b"")
