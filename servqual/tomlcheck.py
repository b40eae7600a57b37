"""Checking a configuration file's tables (strategies, distribution): each mistake is an
:class:`~servqual.errors.InstrumentError` (exit 65) naming the file and the dotted key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import unknown_key_message
from .errors import InstrumentError


class TomlChecker:
    """The checks of one file's tables."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> None:
        raise InstrumentError(message, file=self.path, key=key)

    def table(self, value: Any, key: str) -> dict:
        """``value`` is a table (``[key]``)."""
        if not isinstance(value, dict):
            self.fail(key, "must be a table")
        return value

    def keys(self, table: dict, allowed, key: str, required=()) -> None:
        """Only ``allowed`` keys (a typo gets a suggestion), and every ``required`` one."""
        for k in table:
            if k not in allowed:
                self.fail(f"{key}.{k}" if key else k, unknown_key_message(k, allowed))
        for k in required:
            if k not in table:
                self.fail(f"{key}.{k}" if key else k, "required key is missing")
