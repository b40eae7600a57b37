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


def placeholder_problem(text: str, allowed: set[str]) -> str | None:
    """What is wrong with the placeholders of a user's text (``{unit}``), or ``None``: each
    must be a plain name of ``allowed``, without a format (``{unit:d}``, ``{unit:>9999}``),
    a conversion (``{unit!r}``) or a position (``{}``, ``{0}``). Filled with
    :meth:`str.format_map`, any of these raised an error (or wrote a report of 800 MB)
    when the report or the message was made, long after the file was read."""
    import string

    try:
        parsed = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(text)
                  if f is not None]
    except ValueError as err:
        return f"bad placeholder: {err} (write a brace itself as {{{{ or }}}})"
    known = ", ".join("{" + a + "}" for a in sorted(allowed)) or "none"
    for field, spec, conversion in parsed:
        if field not in allowed:
            shown = "{" + field + "}" if field else "{}"
            return f"unknown placeholder {shown}; this text may use: {known}"
        if spec or conversion:
            return (f"the placeholder {{{field}}} takes no format or conversion "
                    f"({'!' + conversion if conversion else ':' + spec}): write {{{field}}}")
    return None
