"""Reading the small configuration and side files, with the errors the CLI maps to exit codes.

A missing or unreadable file is an :class:`InputFileError` (exit 66); a file that is not
valid TOML or not text is an :class:`InstrumentError` (exit 65). Both name the file and say
what kind of file was expected.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .errors import InputFileError, InstrumentError


def read_bytes(path: str | Path, what: str) -> bytes:
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError as err:
        raise InputFileError(f"{what} file does not exist", file=path) from err
    except IsADirectoryError as err:
        article = "an" if what[:1].lower() in "aeiou" else "a"
        raise InputFileError(f"is a directory, not {article} {what} file", file=path) from err
    except OSError as err:
        raise InputFileError(f"cannot read {what} file: {err.strerror}", file=path) from err


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """A UTF-8 TOML file (a byte-order mark is allowed) as a dict."""
    raw = read_bytes(path, what)
    try:
        return tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise InstrumentError(f"{what} file is not UTF-8 text", file=path) from err
    except tomllib.TOMLDecodeError as err:
        raise InstrumentError(f"not valid TOML: {err}", file=path) from err
