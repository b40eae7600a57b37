"""Where the editable, user-facing files live: templates, translations, strategy texts.

In a source checkout they are in ``reports/`` at the top of the repository; an installed
wheel carries the same tree as ``servqual/_reports`` (hatch force-include, pyproject.toml).
"""

from __future__ import annotations

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
