"""The delivery log: which report reached whom, so that each is sent once.

A row per delivered message and recipient: ``wave``, ``unit``, ``lang``, ``recipient`` (the
bare address, lower case), ``report_sha256``, ``report`` (its file name), ``sent_at`` (UTC) and
``message_id``. A recipient is sent a report again only when no row has the same wave, unit,
recipient and report hash (or with ``--resend``).

It lives in the history store when the run has one (``--store``: table ``deliveries``,
created when first needed, so stores written before keep their schema), else beside the
reports (``servqual-deliveries.csv``, safe to open in Excel). Rows are added after every
message: a run interrupted half-way resends nothing that was delivered.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..errors import DataError

LOG_NAME = "servqual-deliveries.csv"
LOG_FIELDS = ["wave", "unit", "lang", "recipient", "report_sha256", "report", "sent_at",
              "message_id"]
TABLE = "deliveries"


class FileLog:
    """The log as a CSV file beside the reports."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = self._read()

    def delivered(self) -> pd.DataFrame:
        return self.rows

    def record(self, rows: list[dict]) -> None:
        from ..outputs import csv_frame

        self.rows = pd.concat([self.rows, pd.DataFrame(rows, columns=LOG_FIELDS)],
                              ignore_index=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        csv_frame(self.rows).to_csv(temporary, index=False, encoding="utf-8")
        os.replace(temporary, self.path)

    def close(self) -> None:
        pass

    def _read(self) -> pd.DataFrame:
        if not self.path.is_file():
            return pd.DataFrame(columns=LOG_FIELDS)
        try:
            log = pd.read_csv(self.path, dtype=str, keep_default_na=False)
        except (OSError, ValueError, pd.errors.ParserError) as err:
            raise DataError(f"the delivery log cannot be read ({err}); move it aside to send "
                            "again", file=self.path) from None
        missing = [c for c in LOG_FIELDS if c not in log.columns]
        if missing:
            raise DataError(f"is not a servqual delivery log (no {missing[0]!r} column)",
                            file=self.path)
        # cells that could read as a formula were written with a leading apostrophe (Excel)
        return log[LOG_FIELDS].apply(lambda c: c.str.removeprefix("'"))


class StoreLog:
    """The log as the history store's ``deliveries`` table; the store stays locked for
    writing while the reports are sent."""

    def __init__(self, path: Path, wait: float, on_wait=None, write: bool = True) -> None:
        import duckdb

        from ..store.history import Store
        from ..store.schema import tables_of

        if not write:  # a dry run reads the log and changes nothing
            self.store = Store.open(path, wait=wait, on_wait=on_wait)
            self.con = self.store.con
            self.exists = TABLE in tables_of(self.con)
            return
        self.con = duckdb.connect()
        self.store = Store.attach_for_writing(self.con, path, wait=wait, on_wait=on_wait)
        columns = ", ".join(f'"{c}" VARCHAR' for c in LOG_FIELDS)
        self.con.execute(f"CREATE TABLE IF NOT EXISTS store.{TABLE} ({columns})").fetchall()
        self.exists = True

    def delivered(self) -> pd.DataFrame:
        if not self.exists:
            return pd.DataFrame(columns=LOG_FIELDS)
        return self.con.execute(f"SELECT * FROM store.{TABLE}").df()[LOG_FIELDS]

    def record(self, rows: list[dict]) -> None:
        self.con.register("delivered_now", pd.DataFrame(rows, columns=LOG_FIELDS))
        try:
            self.con.execute(f"INSERT INTO store.{TABLE} SELECT * FROM delivered_now"
                             ).fetchall()
        finally:
            self.con.unregister("delivered_now")

    def close(self) -> None:
        self.store.close()
        self.con.close()


def open_log(report_dir: Path, store: Path | None, wait: float = 30.0, on_wait=None,
             write: bool = True):
    """The delivery log of a distribution: the store's when there is one."""
    if store is not None:
        return StoreLog(Path(store), wait, on_wait, write=write)
    return FileLog(report_dir / LOG_NAME)
