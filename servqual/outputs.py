"""Writing outputs all-or-nothing: a failed run leaves no partial file behind.

Outputs are first written to hidden temporary files beside their destination and only moved
into place (an atomic rename) once every output of the run has been written. If anything
fails on the way, the temporary files are removed and the destinations are untouched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from .celltext import csv_frame
from .errors import OutputError


class OutputSet:
    """Stage several outputs, then commit them together.

    Use as a context manager: leaving the block normally commits, an exception discards.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.commit()
        else:
            self.discard()
        return False

    def _temp_for(self, dest: Path) -> Path:
        dest = Path(dest)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
            os.close(fd)
        except OSError as err:
            raise OutputError(f"cannot write here: {err.strerror}", file=dest) from err
        if dest.is_dir():
            Path(name).unlink(missing_ok=True)
            raise OutputError("is a directory", file=dest)
        temp = Path(name)
        self._staged.append((temp, dest))
        return temp

    def write_text(self, dest: str | Path, text: str) -> None:
        temp = self._temp_for(Path(dest))
        try:
            temp.write_text(text, encoding="utf-8")
        except OSError as err:
            raise OutputError(f"cannot write: {err.strerror}", file=dest) from err

    def write_bytes(self, dest: str | Path, data: bytes) -> None:
        temp = self._temp_for(Path(dest))
        try:
            temp.write_bytes(data)
        except OSError as err:
            raise OutputError(f"cannot write: {err.strerror}", file=dest) from err

    def write_csv(self, dest: str | Path, frame: pd.DataFrame) -> None:
        """CSV in UTF-8 with a byte-order mark, so Excel opens Chinese text correctly.

        Cells and column names go through :func:`servqual.celltext.csv_frame`: text that a
        spreadsheet would run as a formula gets a leading ``'``, overlong text is cut with a
        visible marker, numbers are written as numbers.
        """
        temp = self._temp_for(Path(dest))
        safe = csv_frame(frame)
        try:
            safe.to_csv(temp, index=False, encoding="utf-8-sig")
        except OSError as err:
            raise OutputError(f"cannot write: {err.strerror}", file=dest) from err

    def temp_path(self, dest: str | Path) -> Path:
        """A staged path for a writer that needs a file name (e.g. a browser printing a PDF)."""
        return self._temp_for(Path(dest))

    def commit(self) -> None:
        done: list[Path] = []
        mode = 0o666 & ~_umask()
        try:
            for temp, dest in self._staged:
                os.chmod(temp, mode)  # mkstemp makes files private; outputs follow the umask
                os.replace(temp, dest)
                done.append(dest)
        except OSError as err:
            self.discard()
            for path in done:  # all or nothing: do not leave half of a run's outputs
                path.unlink(missing_ok=True)
            raise OutputError(f"cannot move the finished output into place: {err.strerror}",
                              file=dest) from err
        self._staged.clear()

    def discard(self) -> None:
        for temp, _ in self._staged:
            temp.unlink(missing_ok=True)
        self._staged.clear()

    @property
    def destinations(self) -> list[Path]:
        return [dest for _, dest in self._staged]


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
