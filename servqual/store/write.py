"""Writing the history store: ``servqual ingest``, replacing waves, rebuilding the trends.

Everything a wave keeps is written in one transaction (:func:`write_waves`), the trend
tables rebuilt in it (:func:`rebuild_trends`); see :mod:`servqual.store` for the tables.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from .. import __version__
from ..errors import DataError, ServqualError
from ..instrument import Instrument
from ..models import (CROSS_KEYS, CROSS_SUMS, HISTOGRAM_KEYS, KEYS, SUMS, WEIGHTED_SUMS,
                      Aggregates, DataQuality, ImportanceCounts)
from ..stats.aggregate import canonical
from ..stats.questionnaire import questionnaire_common
from ..waves import check_wave_spellings
from .history import Store, quality_to_json, quietly, quote
from .integrity import guard
from .schema import (DEFAULT_WAIT, SERIES_FIELDS, TREND_FIT_FIELDS, attach, fingerprint,
                     instrument_text)


@dataclass
class WaveData:
    """Everything the store keeps of one wave, ready to write."""

    wave: str
    quality: DataQuality
    respondents: int
    rows_sql: str  # SELECT of the wave's respondent rows, on the writing connection
    files: list[str]


def write_waves(store: Store, instrument: Instrument, aggregates: Aggregates,
                importance: dict[str, ImportanceCounts], waves: list[WaveData],
                quarantine: pd.DataFrame, files: list[str], engine: str) -> None:
    """Replace (or add) ``waves`` in the store, in one transaction, and rebuild the trend
    tables. ``quarantine`` holds the rejected rows of the files, with a ``wave`` column."""
    con = store.con
    names = [w.wave for w in waves]
    if not names:
        raise DataError("no valid responses to store: every row was quarantined")
    kept = store.waves()
    kept = kept[~kept["wave"].isin(names)]
    if len(kept):
        store.check_structure(instrument, list(kept["wave"]))
    text = instrument_text(instrument)
    mark = fingerprint(instrument)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    con.execute("BEGIN").fetchall()
    try:
        ingest = con.execute("SELECT coalesce(max(ingest), 0) + 1 FROM store.ingests"
                             ).fetchall()[0][0]
        con.execute("CREATE OR REPLACE TEMP TABLE replaced (wave VARCHAR)").fetchall()
        con.executemany("INSERT INTO replaced VALUES (?)", [[w] for w in names]).fetchall()
        old_tables = [r[0] for r in con.execute(
            "SELECT rows_table FROM store.waves WHERE wave IN (SELECT wave FROM replaced)"
        ).fetchall()]
        for name in ("moments", "histograms", "crossproducts", "importance", "waves"):
            con.execute(f"DELETE FROM store.{name} "
                        "WHERE wave IN (SELECT wave FROM replaced)").fetchall()
        # A replaced wave's quarantine goes, and so does every row an earlier ingest of these
        # files rejected (a wave none of whose rows was valid is not stored, but its rejected
        # rows are): the files' rejected rows are inserted again below.
        con.execute("DELETE FROM store.quarantine "
                    "WHERE wave IN (SELECT wave FROM replaced)").fetchall()
        con.executemany("DELETE FROM store.quarantine WHERE source_file = ?",
                        [[f] for f in files]).fetchall()
        for table in old_tables:
            con.execute(f"DROP TABLE IF EXISTS store.{quote(table)}").fetchall()

        moments = aggregates.moments.copy()
        for column in WEIGHTED_SUMS:
            if column not in moments:
                moments[column] = np.nan
        _insert(con, "moments", moments[KEYS + SUMS + WEIGHTED_SUMS])
        _insert(con, "histograms", aggregates.histograms[HISTOGRAM_KEYS + ["count"]])
        _insert(con, "crossproducts", aggregates.crossproducts[CROSS_KEYS + CROSS_SUMS])
        if importance:
            _insert(con, "importance", pd.DataFrame(
                [{"wave": w, **c.as_dict()} for w, c in importance.items()]))
        q = _quarantine_rows(quarantine, ingest)
        if len(q):
            _insert(con, "quarantine", q)
        for n, wave in enumerate(waves):
            table = f"rows_{ingest}_{n + 1}"
            con.execute(f"CREATE TABLE store.{quote(table)} AS {wave.rows_sql}").fetchall()
            con.execute("INSERT INTO store.waves VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [wave.wave, ingest, instrument.name, mark, text, wave.respondents,
                         quality_to_json(wave.quality), json.dumps(wave.files), table, now]
                        ).fetchall()
        con.execute("INSERT INTO store.ingests VALUES (?, ?, ?, ?, ?, ?)",
                    [ingest, now, json.dumps(files), json.dumps(names), engine,
                     f"servqual {__version__}"]).fetchall()
        rebuild_trends(store)
        con.execute("COMMIT").fetchall()
    except BaseException:
        quietly(con, "ROLLBACK")
        raise


def _insert(con, table: str, frame: pd.DataFrame) -> None:
    con.register("incoming", frame)
    try:
        columns = ", ".join(quote(c) for c in frame.columns)
        con.execute(f"INSERT INTO store.{table} ({columns}) "
                    f"SELECT {columns} FROM incoming").fetchall()
    finally:
        con.unregister("incoming")


def _quarantine_rows(quarantine: pd.DataFrame, ingest: int) -> pd.DataFrame:
    """The quarantine in the store's layout: fixed columns, the file's own values as JSON."""
    fixed = ["wave", "source_file", "source_row", "reason", "column", "value", "duplicate_of"]
    if quarantine is None or quarantine.empty:
        return pd.DataFrame(columns=["wave", "ingest"] + fixed[1:] + ["record"])
    own = [c for c in quarantine.columns if c not in fixed]
    records = quarantine[own].to_json(orient="records", lines=True, force_ascii=False,
                                      date_format="iso").splitlines() if own else \
        ["{}"] * len(quarantine)
    out = pd.DataFrame({
        "wave": quarantine["wave"].astype(object).where(quarantine["wave"].notna(), None),
        "ingest": ingest,
        "source_file": quarantine["source_file"].astype(str),
        "source_row": pd.to_numeric(quarantine["source_row"]).astype("int64"),
        "reason": quarantine["reason"].astype(str),
        "column": quarantine["column"].fillna("").astype(str),
        "value": quarantine["value"].fillna("").astype(str),
        "duplicate_of": pd.array(quarantine["duplicate_of"], dtype="Int64"),
        "record": records,
    })
    return out


def _suppressed(frame: pd.DataFrame, config) -> pd.Series:
    """Segment cells too small to publish (``min_cell``): no figures, no trend."""
    return (frame["segment"] != "") & (frame["n"] < config.min_cell)


def rebuild_trends(store: Store) -> None:
    """Recompute the trend tables from every stored wave (inside the caller's transaction),
    with the functions and thresholds ``servqual report`` uses (the latest wave's
    instrument)."""
    from ..stats.tables import build_tables
    from ..stats.trends import dimension_series, series_trends

    con = store.con
    con.execute("DELETE FROM store.trend_series").fetchall()
    con.execute("DELETE FROM store.trend_fits").fetchall()
    waves_frame = store.waves()
    if waves_frame.empty:
        return
    instrument = store.latest_instrument()
    waves = list(waves_frame["wave"])
    aggregates = store.aggregates(waves, instrument)
    member = questionnaire_common(aggregates.moments, instrument)
    if member is not None:  # dimension trends over the items asked in every wave
        aggregates = canonical(Aggregates.concat(
            [aggregates, store.common_items(member, instrument)]), instrument)
    tables = build_tables(aggregates, instrument, waves)
    config = instrument.analysis
    series, fits = [], []
    fitted = dimension_series(tables)[0]  # the common items only, where they changed
    for level, table, key, fit_on in (("dimension", tables.dimensions, "dimension", fitted),
                                      ("item", tables.items, "item", tables.items)):
        frame = table.rename(columns={key: "id"}).copy()
        if level == "dimension":
            frame["dimension"] = frame["id"]
        frame["suppressed"] = _suppressed(frame, config)
        part = frame[["id", "dimension", "segment", "value", "wave"]
                     + [c for c in SERIES_FIELDS if c in frame] + ["suppressed"]].copy()
        part.insert(0, "level", level)
        for c in SERIES_FIELDS:
            if c not in part:
                part[c] = np.nan
        part.loc[part["suppressed"], [c for c in SERIES_FIELDS if c != "n"]] = np.nan
        series.append(part)
        usable = fit_on.rename(columns={key: "id"})
        if level == "dimension":
            usable = usable.assign(dimension=usable["id"])
        usable = usable[~_suppressed(usable, config)]
        for measure, column in (("gap", "gap_mean"), ("perception", "perception_mean")):
            fit = series_trends(usable, ["id", "dimension", "segment", "value"], column,
                                waves, config)
            if fit.empty:
                continue
            fit = fit.drop(columns=["measure"])
            fit.insert(0, "level", level)
            fit["measure"] = measure
            fits.append(fit)
    series_frame = pd.concat(series, ignore_index=True)
    series_frame["value"] = series_frame["value"].astype(str)
    _insert(con, "trend_series", series_frame[["level", "id", "dimension", "segment", "value",
                                               "wave"] + SERIES_FIELDS + ["suppressed"]])
    if fits:
        fit_frame = decided_as_reported(pd.concat(fits, ignore_index=True), tables, waves,
                                        config, instrument.score)
        fit_frame["value"] = fit_frame["value"].astype(str)
        _insert(con, "trend_fits", fit_frame[["level", "id", "dimension", "segment", "value",
                                              "measure"] + TREND_FIT_FIELDS])


def decided_as_reported(fits: pd.DataFrame, tables, waves: list[str], config,
                        score: str = "gap") -> pd.DataFrame:
    """The store's trend fits with the directions ``servqual report`` decides.

    A report decides its trend directions together (:func:`servqual.stats.decisions.
    decide_trends`: two-level Benjamini–Hochberg at ``alarm_fdr``), so a series' direction
    depends on the others of the report. The series a report shows (whole-sample dimension
    gap and perception, item gap, and the segment cells it publishes now) take the report's
    directions; the others the store also answers for (an item in a segment, a segment's
    perception, a cell suppressed now) are members of their dimension's family under the
    report's selection: examined only when the report selects the dimension, by BH within
    the family at ``alarm_fdr`` × selected ÷ tested.
    """
    from ..stats.multiplicity import two_level_bh
    from ..models import INSUFFICIENT
    from ..stats.decisions import decided_directions
    from ..stats.trends import build_trends

    report = build_trends(tables, waves, config, score)
    keys = ["level", "id", "dimension", "segment", "value", "measure"]
    dims = report.dimensions
    shown = [dims.assign(level="dimension", id=dims["dimension"], segment="", value="",
                         measure=score)[keys + ["direction"]],
             dims.assign(level="dimension", id=dims["dimension"], segment="", value="",
                         measure="perception",
                         direction=dims["perception_direction"])[keys + ["direction"]]]
    if len(report.items):
        items = report.items
        shown.append(items.assign(level="item", id=items["item"], segment="", value="",
                                  measure=score)[keys + ["direction"]])
    if len(report.segments):
        segs = report.segments
        shown.append(segs.assign(level="dimension", id=segs["dimension"], segment=segs["column"],
                                 value=segs["value"].astype(str),
                                 measure=score)[keys + ["direction"]])
    decided = pd.concat(shown, ignore_index=True).drop_duplicates(keys).rename(
        columns={"direction": "reported"})  # SERVPERF: the score is the perception
    out = fits.copy()
    out["value"] = out["value"].astype(str)
    out["segment"] = out["segment"].astype(str)
    out = out.merge(decided, on=keys, how="left")
    rest = out["reported"].isna().to_numpy()
    if rest.any():
        # The report's heads (dimension score trends, overall scores, the NPS) select as in
        # the report; the other series are members of their dimension's family.
        head_p = report.heads["p_value"].to_numpy(float)
        head_family = list(report.heads["family"].astype(str))
        p = np.concatenate([head_p, out.loc[rest, "p_value"].to_numpy(float)])
        family = head_family + list(out.loc[rest, "dimension"].astype(str))
        head = np.arange(len(p)) < len(head_p)
        decision = two_level_bh(p, family, head, config.alarm_fdr)
        member = decision.p_adjusted[len(head_p):]
        others = decided_directions(member, out.loc[rest, "slope_per_wave"].to_numpy(float),
                                    out.loc[rest, "change"].to_numpy(float), True,
                                    config.trend_min_change, config.alarm_fdr)
        others = np.where(out.loc[rest, "direction"] == INSUFFICIENT, INSUFFICIENT, others)
        out.loc[rest, "reported"] = others
    out["direction"] = out["reported"]
    return out.drop(columns=["reported"])


# --------------------------------------------------------------------------------------------
# servqual ingest


@dataclass
class Ingested:
    """What an ingest did: the row accounting of each wave stored, and of the rows that carry
    no wave label (``None``)."""

    store: Path
    waves: dict[str | None, DataQuality]
    replaced: list[str]
    quality: DataQuality


def ingest_files(paths: list[Path], instrument: Instrument, store_path: Path, *,
                 progress=None, wait: float = DEFAULT_WAIT, on_wait=None,
                 memory_limit: str | None = None) -> Ingested:
    """Validate survey files and replace (or add) their waves in the store, all or nothing.

    The files are validated and aggregated by the DuckDB engine (:mod:`servqual.engines.
    duckdb`), whose staged rows are copied into the store, before the store is opened, so another process is kept waiting only while the waves are written.
    A wave found in the files replaces the stored wave of that label entirely: a wave spread
    over several files must be ingested in one command.
    """
    from ..behaviour import check_matched
    from ..engines.duckdb import DuckDBEngine
    from ..stats.tables import outcome_table

    with DuckDBEngine(instrument, progress=progress, memory_limit=memory_limit) as engine:
        collected = engine.collect(paths)
        names = collected.waves
        if not names:
            from ..run import no_valid_responses
            raise no_valid_responses(collected.quality, "store")
        aggregates = collected.aggregates
        # A CRM extract that matched nobody is a mistake to stop at, not a wave to store.
        check_matched(outcome_table(aggregates.moments, instrument, names), instrument)
        importance = engine.importance
        per_wave = engine.wave_quality()
        quarantine = collected.quarantine.assign(wave=engine.quarantine_waves)
        waves = [WaveData(wave=w, quality=per_wave[w], respondents=per_wave[w].rows_valid,
                          rows_sql=engine.rows_select(w),
                          files=sorted({f["file"] for f in per_wave[w].files}))
                 for w in names]
        if progress is not None:
            progress("writing the store", 0, 1)
        store = Store.attach_for_writing(engine.con, store_path, wait=wait, on_wait=on_wait)
        try:
            with guard(Path(store_path), write=True):
                check_wave_spellings(names, list(store.waves()["wave"]))
                replaced = [w for w in names if w in set(store.waves()["wave"])]
                write_waves(store, instrument, aggregates, importance, waves, quarantine,
                            [str(p) for p in paths], engine="duckdb")
        except BaseException:
            store.close(failed=True)
            if store.created:  # leave no empty store behind a failed first ingest
                _remove_if_empty(Path(store_path))
            raise
        store.close()
        if progress is not None:
            progress("writing the store", 1, 1)
        return Ingested(store=store_path, waves=per_wave, replaced=replaced,
                        quality=collected.quality)


def _remove_if_empty(path: Path) -> None:
    """Delete a store that holds no wave, unless another process has it open: it may be
    another first ingest, waiting for the lock to fill the store this process created."""
    con = duckdb.connect()
    try:
        try:
            attach(con, path, write=False, wait=0)  # a shared lock: no writer gets in now
            empty = con.execute("SELECT count(*) FROM store.waves").fetchall()[0][0] == 0
        except (duckdb.Error, ServqualError, OSError):
            return
        if empty:
            for leftover in (path, Path(f"{path}.wal")):
                leftover.unlink(missing_ok=True)
    finally:
        con.close()
