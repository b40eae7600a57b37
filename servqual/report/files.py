"""File names for the reports of units (``--split-by``): safe for any unit name.

A unit's name comes from the data (a region, a manager, 华东区, ``../../etc``, ``a/b``,
``CON``), so it is reduced to letters and digits of any script (Chinese stays Chinese),
``-`` and ``_``; everything else becomes ``-``. Names that would collide on a
case-insensitive file system, or that are reserved on Windows, get a short stable hash.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

MAX_CHARS = 40  # CJK is 3 bytes a character in UTF-8; file systems allow 255 bytes
WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)),
                    *(f"LPT{i}" for i in range(10))}


def slug(text: str, limit: int = MAX_CHARS) -> str:
    """Letters and digits of any script, ``-`` and ``_``; never empty, never a path."""
    normal = unicodedata.normalize("NFKC", str(text))
    kept = "".join(ch if (ch.isalnum() or ch in "-_") and ch.isprintable() else "-"
                   for ch in normal)
    kept = re.sub(r"-{2,}", "-", kept).strip("-_")[:limit].rstrip("-_")
    return kept or "unit"


def _hash(text: str) -> str:
    return hashlib.sha1(str(text).encode("utf-8")).hexdigest()[:8]


def unit_paths(out: Path, column: str, values: list[str]) -> dict[str, Path]:
    """One distinct, safe path per unit, beside ``out``: ``<stem>.<column>-<value><suffix>``."""
    paths: dict[str, Path] = {}
    taken: set[str] = {out.name.casefold()}
    prefix = f"{out.stem}.{slug(column)}-"
    for value in values:
        name = slug(value)
        if name.upper() in WINDOWS_RESERVED:
            name = f"{name}-{_hash(value)}"
        candidate = f"{prefix}{name}{out.suffix}"
        if candidate.casefold() in taken:
            candidate = f"{prefix}{name}-{_hash(value)}{out.suffix}"
        taken.add(candidate.casefold())
        paths[value] = out.with_name(candidate)
    return paths
