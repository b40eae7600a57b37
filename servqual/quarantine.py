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


def quarantine_paths(inputs: list[Path], out_dir: Path | None = None) -> list[Path]:
    """Where ``servqual validate`` writes each input's quarantine file: beside it, or in
    ``out_dir``. Inputs whose files would share a name (``2026Q3.csv`` and ``2026Q3.xlsx``
    of one folder; ``east/2026Q3.csv`` and ``west/2026Q3.csv`` in one ``out_dir``) are told
    apart by their suffix, then by as many of their folders' names as it takes
    (``east_2026Q3.csv.rejected.csv``): one file would overwrite the other's rows."""
    def place(path: Path, name: str) -> Path:
        return (path.parent if out_dir is None else out_dir) / (name + SUFFIX)

    names = [p.stem for p in inputs]
    for depth in range(len(max((p.absolute().parts for p in inputs), key=len, default=())) + 1):
        dests = [place(p, n) for p, n in zip(inputs, names)]
        clash = {d for d in dests if dests.count(d) > 1}
        if not clash:
            return dests
        names = [(p.name if depth == 0 else "_".join(p.absolute().parts[-depth - 1:]))
                 if d in clash else n for p, n, d in zip(inputs, names, dests)]
    return [place(p, f"{n}.{k}") for k, (p, n) in enumerate(zip(inputs, names), start=1)]


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
