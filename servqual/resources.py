"""Where the editable, user-facing files live: templates, translations, strategy texts.

In a source checkout they are in ``reports/`` at the top of the repository; an installed
wheel carries the same tree as ``servqual/_reports`` (hatch force-include, pyproject.toml).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def reports_dir() -> Path:
    """The directory holding ``templates/``, ``locale/`` and the strategy texts."""
    for candidate in (_PACKAGE / "_reports", _PACKAGE.parent / "reports"):
        if (candidate / "templates").is_dir():
            return candidate
    raise RuntimeError(
        f"servqual's report templates are missing (looked in {_PACKAGE / '_reports'} and "
        f"{_PACKAGE.parent / 'reports'}); the installation is incomplete"
    )


def templates_dir() -> Path:
    return reports_dir() / "templates"


def locale_dir() -> Path:
    return reports_dir() / "locale"


def data_file(name: str) -> Path:
    """A data file shipped with the reports tree (e.g. ``strategies.toml``)."""
    return reports_dir() / name


def cache_dir(name: str) -> Path | None:
    """A writable directory for derived files that only save time (compiled templates):
    ``$SERVQUAL_CACHE_DIR/NAME``, else ``$XDG_CACHE_HOME/servqual/NAME`` (``~/.cache`` by
    default); ``None`` when it cannot be created or written, and the caller does without."""
    root = os.environ.get("SERVQUAL_CACHE_DIR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "servqual")
    path = Path(root) / name
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK | os.X_OK) else None
