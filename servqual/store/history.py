"""Opening the history store and reading its waves (see :mod:`servqual.store`); writing
them is :mod:`.write`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ..errors import DataError
from ..instrument import Instrument
from ..models import (CROSS_KEYS, CROSS_SUMS, HISTOGRAM_KEYS, KEYS, REASONS, SUMS, WEIGHTED_SUMS,
                      Aggregates, DataQuality, ImportanceCounts)
from ..stats.aggregate import canonical
from ..validation.accounting import merge as merge_quality
from ..waves import sort_waves
from .integrity import guard, rebuild_hint, verify
from .schema import (DEFAULT_WAIT, attach, check_schema, describe_difference, fingerprint,
                     instrument_from_text, stored_version, structure, tables_of)


class Store:
    """An open history store (attached as ``store`` to a DuckDB connection).

    ``Store.open(path)`` reads; writers attach it to the connection that holds the rows to
    add (:meth:`attach_for_writing`), so respondent rows move from DuckDB to DuckDB. Used as
    a context manager, a DuckDB error that a damaged store raises in the block becomes
    servqual's error naming the file (:func:`.integrity.failure`).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, own: bool):
        self.con = con
        self.path = path
        self._own = own
        self.created = False  # this process created the store's schema (writers)

    @classmethod
    def open(cls, path: str | Path, wait: float = DEFAULT_WAIT,
             on_wait: Callable[[str], None] | None = None) -> Store:
        path = Path(path)
        con = duckdb.connect()
        try:
            with guard(path):
                attach(con, path, write=False, wait=wait, on_wait=on_wait)
                check_schema(con, path, write=False)
        except BaseException:
            con.close()
            raise
        return cls(con, path, own=True)

    @classmethod
    def attach_for_writing(cls, con: duckdb.DuckDBPyConnection, path: str | Path,
                           wait: float = DEFAULT_WAIT,
                           on_wait: Callable[[str], None] | None = None) -> Store:
        path = Path(path)
        with guard(path, write=True):
            if path.exists():
                # Read-only first, and all of it: a damaged store is refused before anything
                # is written (DuckDB would find the damage in the middle of the commit, with
                # the file half rewritten).
                attach(con, path, write=False, wait=wait, on_wait=on_wait, writer=True)
                try:
                    stored_version(con, path)
                    verify(con, path)
                except BaseException:
                    quietly(con, "DETACH store")
                    raise
                con.execute("DETACH store").fetchall()
            attach(con, path, write=True, wait=wait, on_wait=on_wait)
            try:
                created = check_schema(con, path, write=True)
            except BaseException:
                quietly(con, "DETACH store")
                raise
        store = cls(con, path, own=False)
        store.created = created
        return store

    def close(self, *, failed: bool = False) -> None:
        """Detach (a writer's store: DuckDB checkpoints it now) or close. ``failed``: on the
        way out of an error, which a second error from DuckDB must not hide."""
        if self.con is None:
            return
        con, self.con = self.con, None
        if self._own:
            con.close()
        elif failed:
            quietly(con, "DETACH store")
        else:
            with guard(self.path, write=True):
                con.execute("DETACH store").fetchall()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(failed=exc is not None)
        guard(self.path).__exit__(exc_type, exc, tb)

    # Reading ------------------------------------------------------------------------------
    def waves(self) -> pd.DataFrame:
        """One row per stored wave (chronological): wave, fingerprint, instrument, …"""
        frame = self.con.execute("SELECT * FROM store.waves").df()
        order = sort_waves(frame["wave"])
        return frame.set_index("wave").loc[order].reset_index() if len(frame) else frame

    def latest_instrument(self) -> Instrument:
        waves = self.waves()
        if waves.empty:
            raise DataError("the history store holds no waves yet; add some with "
                            "servqual ingest FILE...", file=self.path)
        last = waves.iloc[-1]
        return instrument_from_text(last["instrument"], f"{self.path} (wave {last['wave']})")

    def check_structure(self, instrument: Instrument, waves: list[str] | None = None) -> None:
        """The stored waves (``waves``: those given) were read with ``instrument``'s
        structure; else a DataError saying which and what differs."""
        stored = self.waves()
        if waves is not None:
            stored = stored[stored["wave"].isin(waves)]
        mine = fingerprint(instrument)
        other = stored[stored["fingerprint"] != mine]
        if other.empty:
            return
        first = other.iloc[0]
        theirs = structure(instrument_from_text(first["instrument"], str(self.path)))
        raise DataError(
            f"waves {', '.join(other['wave'])} were stored with a different instrument "
            f"structure than {instrument.path or 'this instrument'} "
            f"({describe_difference(theirs, structure(instrument))}); a store keeps one "
            "structure: re-ingest those waves with this instrument, or use another --store",
            file=self.path)

    def load(self, instrument: Instrument, exclude: set[str] = frozenset(),
             files: set[str] = frozenset()) -> tuple[Aggregates, DataQuality, list[str]]:
        """The stored waves' aggregates, row accounting and labels (waves in ``exclude``
        left out). The accounting counts too the rejected rows of waves that were not stored
        (none of their rows was valid) and of rows without a wave label, as a run over the
        files would; those of ``files`` (read again by this run) left out."""
        stored = self.waves()
        if stored.empty:
            raise DataError("the history store holds no waves yet; add some with "
                            "servqual ingest FILE...", file=self.path)
        waves = [w for w in stored["wave"] if w not in exclude]
        self.check_structure(instrument, waves)
        quality = DataQuality()
        for text in stored.set_index("wave").loc[waves, "quality"] if waves else []:
            merge_quality(quality, quality_from_json(text))
        merge_quality(quality, self._unstored_rejects(exclude, files))
        return self.aggregates(waves, instrument), quality, sort_waves(waves)

    def _unstored_rejects(self, exclude: set[str], files: set[str]) -> DataQuality:
        """Row accounting of the stored rejected rows that no stored wave accounts for."""
        rows = self.con.execute(
            "SELECT wave, source_file, reason, count(*) FROM store.quarantine WHERE wave IS NULL"
            " OR wave NOT IN (SELECT wave FROM store.waves) GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        quality, by_file = DataQuality(), {}
        for wave, file, reason, count in rows:
            if wave in exclude or file in files:
                continue
            quality.rows_read += count
            quality.rows_quarantined += count
            quality.quarantine_reasons[reason] = quality.quarantine_reasons.get(reason, 0) + count
            by_file[file] = by_file.get(file, 0) + count
        quality.files = [{"file": f, "kind": None, "encoding": None, "platform": None,
                          "rows_read": n, "rows_valid": 0, "rows_quarantined": n,
                          "outcomes_absent": []} for f, n in by_file.items()]
        return quality

    def common_items(self, member, instrument: Instrument, exclude: set[str] = frozenset()
                     ) -> Aggregates | None:
        """The second pass of a changed questionnaire over the stored respondents
        (:func:`servqual.stats.questionnaire.common_items`), waves in ``exclude`` left out."""
        from ..responses import Responses
        from ..stats.questionnaire import common_items

        parts = []
        for wave in [w for w in self.waves()["wave"] if w not in exclude]:
            rows = self.respondent_batch(wave)
            responses = Responses.from_batch(rows, instrument.item_ids,
                                             tuple(instrument.settings.segments))
            parts.append(common_items(responses, instrument, member))
        return Aggregates.concat(parts) if parts else None

    def aggregates(self, waves: list[str], instrument: Instrument) -> Aggregates:
        weighted = bool(instrument.settings.sampling_weight)
        sums = SUMS + (WEIGHTED_SUMS if weighted else [])
        self.con.execute("CREATE OR REPLACE TEMP TABLE chosen (wave VARCHAR)").fetchall()
        if waves:  # none when the run's files replace every stored wave
            self.con.executemany("INSERT INTO chosen VALUES (?)", [[w] for w in waves]
                                 ).fetchall()

        def table(name: str, columns: list[str]) -> pd.DataFrame:
            return self.con.execute(
                f"SELECT {', '.join(quote(c) for c in columns)} FROM store.{name} "
                "WHERE wave IN (SELECT wave FROM chosen)").df()

        moments = table("moments", KEYS + sums)
        moments["n"] = moments["n"].astype(np.int64)
        histograms = table("histograms", HISTOGRAM_KEYS + ["count"])
        cross = table("crossproducts", CROSS_KEYS + CROSS_SUMS)
        importance = None
        if instrument.has_importance:
            rows = self.con.execute(
                "SELECT sum(respondents), sum(used), sum(rescaled), sum(all_zero), "
                "sum(missing_or_invalid) FROM store.importance "
                "WHERE wave IN (SELECT wave FROM chosen)").fetchall()[0]
            importance = ImportanceCounts(*(int(v or 0) for v in rows))
        for frame in (moments, histograms):
            frame["value"] = frame["value"].astype(object)
        return canonical(Aggregates(moments=moments, histograms=histograms, crossproducts=cross,
                                    importance=importance), instrument)

    def respondents(self, wave: str) -> pd.DataFrame:
        """The stored respondent-level rows of one wave."""
        rows = self.con.execute("SELECT rows_table FROM store.waves WHERE wave = ?",
                                [wave]).fetchall()
        row = rows[0] if rows else None
        if row is None:
            raise DataError(f"wave {wave!r} is not in the store", file=self.path)
        if row[0] not in tables_of(self.con):
            raise DataError(f"the history store is damaged: the table {row[0]} of wave "
                            f"{wave!r} is missing; " + rebuild_hint(), file=self.path)
        return self.con.execute(f"SELECT * FROM store.{quote(row[0])}").df()

    def respondent_batch(self, wave: str):
        """The stored respondent rows of one wave as an Arrow table (the layout of
        :meth:`servqual.responses.Responses.to_batch`)."""
        self.respondents(wave).iloc[:0]  # the checks of a missing or damaged wave
        table = self.con.execute("SELECT rows_table FROM store.waves WHERE wave = ?",
                                 [wave]).fetchall()[0][0]
        return self.con.sql(f"SELECT * FROM store.{quote(table)}").to_arrow_table()

    def quarantine(self, wave: str | None = None) -> pd.DataFrame:
        if wave is None:
            return self.con.execute("SELECT * FROM store.quarantine").df()
        return self.con.execute("SELECT * FROM store.quarantine WHERE wave = ?", [wave]).df()


def quietly(con, sql: str) -> None:
    """Run ``sql`` on the way out of an error; DuckDB failing again (a store it found
    damaged, a transaction it ended itself) must not hide that error."""
    try:
        con.execute(sql).fetchall()
    except duckdb.Error:
        pass


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --------------------------------------------------------------------------------------------
# Row accounting as JSON


def quality_to_json(quality: DataQuality) -> str:
    return json.dumps(quality.as_dict(), ensure_ascii=False)


def quality_from_json(text: str) -> DataQuality:
    data = json.loads(text)
    known = {f.name for f in fields(DataQuality)}
    quality = DataQuality(**{k: v for k, v in data.items() if k in known})
    reasons = dict.fromkeys(REASONS, 0)
    reasons.update(quality.quarantine_reasons)
    quality.quarantine_reasons = reasons
    return quality
