"""The DuckDB engine: files of any size, a slice of rows at a time; only a slice of rows, the
quarantined rows and the small aggregates are held in Python.

For each file, a slice of rows at a time (:func:`servqual.ingest.slices.read_slices`): every
row-level check (:func:`servqual.validation.rows.wide_rows`), the rejected rows to the
quarantine as the file holds them, the others staged (:mod:`.staging`: their values in Arrow
files on disk, their key hashes, :func:`servqual.validation.duplicates.key_hashes`, in a
DuckDB table). DuckDB then only *finds* the respondents whose key repeats (within the file,
then across files of a wave, among the rows kept); the duplicate rule itself
(:func:`servqual.validation.duplicates.judge`, across files
:func:`~servqual.validation.duplicates.judge_shared`) decides, in Python, on those rows. A row
set aside this way, or as a straight-liner, is quarantined with its values as the file holds
them (:func:`servqual.ingest.slices.records_at`: a file read whole holds its rows until its
own duplicates are judged, straight-liners are held as they are read, and for a copy found
across files or in a streamed file, the file is read again), in the order the memory engine
gives (:func:`servqual.validation.quarantine.joined`). Last, the valid rows come back
as Arrow record batches to the accumulators every engine uses
(:func:`servqual.stats.aggregate.aggregate`), and the accounting of each file is counted on
them by :mod:`servqual.validation.accounting`.

Long layouts and value segments derived from value scores judge a wave's respondents all at
once: they are read by the memory engine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import DataError
from ..ingest.slices import (FileRead, ProgressFn, Restart, check_readable, read_slices,
                             records_at, unparseable_only, without_unparseable)
from ..instrument import Instrument
from ..models import Aggregates, Collected, DataQuality, ImportanceCounts, Reason, Unit
from ..quarantine import QUARANTINE_COLUMNS, SOURCE
from ..responses import WAVE, Responses
from ..stats.aggregate import aggregate
from ..stats.questionnaire import common_items
from ..stats.scores import allocations
from ..validation import duplicates
from ..validation.accounting import (add_rejected, by_file_and_wave, check, count_missing,
                                     file_record, merge, missing_answers)
from ..validation.columns import (absent_outcomes, answer_columns, check_header,
                                  resolve_columns)
from ..validation.quarantine import joined, rejected_rows
from ..validation.rows import wide_rows
from ..validation.straightlining import straightlining
from .staging import KEY_COLUMNS, Staging
from ..waves import sort_waves, wave_from_filename

BATCH_ROWS = 1 << 20  # valid rows handed to the accumulators at a time
_ENGINE_COLUMNS = KEY_COLUMNS  # what staging adds to a respondent's values


def default_memory_limit() -> str:
    """Half the machine's memory for DuckDB (it spills to disk beyond that)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GB"
    return f"{max(total // 2 // (1 << 20), 256)}MB"


def _quiet(_what: str, _done: float, _total: float) -> None:
    return None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class DuckDBEngine:
    """Stage, judge and aggregate survey files in DuckDB; use as a context manager."""

    def __init__(self, instrument: Instrument, *, progress: ProgressFn | None = None,
                 memory_limit: str | None = None, split_by: str | None = None,
                 whole: bool | None = None):
        if instrument.long is not None or (instrument.customer_classes is not None
                                           and instrument.customer_classes.derived):
            raise DataError("long layouts and value segments judge each wave's respondents "
                            "together, in memory: use --engine memory", file=instrument.path)
        self.instrument, self.split_by, self.whole = instrument, split_by, whole
        self.progress = progress or _quiet
        self._tmp = tempfile.mkdtemp(prefix="servqual-duckdb-")
        self.con = duckdb.connect(config={
            "memory_limit": memory_limit or default_memory_limit(),
            "temp_directory": self._tmp, "preserve_insertion_order": False})
        self.files: list[FileRead] = []
        self.quarantines: list[pd.DataFrame] = []
        self.quarantine_waves: list[object] = []  # the wave label of each quarantined row
        self._late: list[pd.DataFrame] = []  # staged rows set aside (see _set_aside)
        self.quarantine = pd.DataFrame(columns=QUARANTINE_COLUMNS)  # the run's, once collected
        self.staging = Staging(self.con, Path(self._tmp))
        self._by_wave: dict[tuple[str | None, int], DataQuality] = {}
        self.importance: dict[str, ImportanceCounts] = {}  # allocations per wave (the store)

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.con.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _add_file(self, path: Path) -> None:
        read = FileRead(path=path, index=len(self.files))
        while True:
            try:
                quarantines, waves = self._stage_file(read)
                break
            except Restart as restart:  # a streamed file read again (see ingest.slices)
                self.staging.drop_part(read.index)
                read = FileRead(path=path, index=read.index, text_encoding=read.text_encoding,
                                single_threaded=read.single_threaded or restart.single_threaded,
                                resync=read.resync or restart.resync)
        self.quarantines += quarantines
        self.quarantine_waves += waves
        self.files.append(read)
        if self.instrument.settings.respondent_id:
            self._judge(f"part = {read.index}")
        self._quarantine_set_aside()  # while a file read whole still holds its rows
        read.whole = None  # a file's rows are not kept past its turn

    def _stage_file(self, read: FileRead) -> tuple[list[pd.DataFrame], list]:
        """Stage the kept rows of one file; its rejected rows and their wave labels."""
        inst, path = self.instrument, read.path
        offset = 0
        quarantines: list[pd.DataFrame] = []
        waves: list[object] = []
        for raw in read_slices(read, inst, self.progress, Path(self._tmp), self.whole):
            if read.names is None:  # the first slice: the header
                frame = resolve_columns(raw, inst)
                read.names = list(frame.columns)
                read.has_wave_column = bool(inst.settings.wave) and inst.settings.wave in frame
                check_header(raw, frame, answer_columns(inst), inst)
            else:
                frame = raw.frame.set_axis(read.names, axis=1)
            flags, responses = wide_rows(raw, frame, inst)
            ords = np.arange(offset, offset + len(raw.frame), dtype=np.int64)
            offset += len(raw.frame)
            rejected = np.flatnonzero(~flags.ok)
            if len(rejected):
                column, value = flags.cells(rejected)
                q = rejected_rows(without_unparseable(raw), rejected, flags.code[rejected],
                                  column, value, flags.duplicate_of[rejected])
                quarantines.append(q)
                waves += [_label(w) for w in responses.meta[WAVE].to_numpy()[rejected]]
            kept = responses.take(flags.ok)
            straight = straightlining(kept, inst)
            self.staging.add(kept.to_batch(), read.index, ords[flags.ok],
                             duplicates.key_hashes(kept.meta) if inst.settings.respondent_id
                             else np.zeros(len(kept), np.uint64), straight)
            if inst.settings.quarantine_straightlining and straight.any():
                at = np.flatnonzero(flags.ok)[straight]  # quarantined later, unless copies
                read.held.append(replace(without_unparseable(raw),
                                         frame=raw.frame.iloc[at].reset_index(drop=True),
                                         source_rows=raw.source_rows[at]))
                read.held_ords.append(ords[at])
        unparseable = read.unparseable if read.unparseable is not None else pd.DataFrame()
        if len(unparseable):
            quarantines.append(rejected_rows(unparseable_only(read), np.zeros(0, np.int64),
                                             np.zeros(0, np.int8), np.zeros(0, object),
                                             np.zeros(0, object), np.zeros(0, np.int64)))
            unlabelled = None if read.has_wave_column else wave_from_filename(
                path, inst.wave_label)
            waves += [unlabelled] * len(unparseable)
        return quarantines, waves

    def _judge(self, where: str, across: bool = False) -> None:
        """The duplicate rule over the staged rows ``where`` whose key repeats (across files:
        among those kept, keys found in two files, judged as the memory engine judges keys
        that files share: a straight-liner to be quarantined is not a copy its file keeps)."""
        having = "count(DISTINCT part) > 1" if across else "count(*) > 1"
        rows, keys = self.staging.rows(
            f"{where} AND code = 0 AND khash IN (SELECT khash FROM keys WHERE {where} "
            f"AND code = 0 GROUP BY khash HAVING {having})")
        if not rows.num_rows:
            return
        found = self._responses(rows)
        n = rows.num_rows  # in one file judge_shared is judge; across, it skips straight-liners
        straight = (keys["straight"].to_numpy(zero_copy_only=False)
                    & self.instrument.settings.quarantine_straightlining)
        reason, first = duplicates.judge_shared(duplicates.describe(
            found, keys["ord"].to_numpy(), np.zeros(n, np.int8), np.full(n, -1), straight),
            self.instrument.settings.duplicates)
        hit = reason > 0
        if not hit.any():
            return
        self.staging.set_verdicts(pa.table({
            "part": keys["part"].filter(pa.array(hit)), "ord": keys["ord"].filter(pa.array(hit)),
            "code": pa.array(reason[hit]), "dup_of": pa.array(first[hit])}))
        self._set_aside(keys, hit, reason[hit], first[hit], found.meta[WAVE].to_numpy()[hit])

    def _set_aside(self, keys: pa.Table, hit: np.ndarray, reason: np.ndarray,
                   first: np.ndarray, waves: np.ndarray) -> None:
        """Note staged rows (``keys`` where ``hit``) a rule set aside: :meth:`_quarantine_set_aside`
        fetches them from their files."""
        self._late.append(pd.DataFrame({
            "part": keys["part"].to_numpy()[hit], "ord": keys["ord"].to_numpy()[hit],
            "code": reason.astype(np.int64), "first": first.astype(np.int64),
            "wave": [_label(w) for w in waves]}))

    def _quarantine_set_aside(self) -> None:
        """The rows set aside after staging, to the quarantine with their values as the file
        holds them (:func:`servqual.ingest.slices.records_at`), file by file."""
        if not self._late:
            return
        late = pd.concat(self._late, ignore_index=True).sort_values(["part", "ord"])
        for part, rows in late.groupby("part", sort=True):
            read = self.files[int(part)]
            raw = records_at(read, self.instrument, rows["ord"].to_numpy(), self.progress,
                             Path(self._tmp), self.whole)
            blank = np.full(len(rows), "", dtype=object)
            self.quarantines.append(rejected_rows(raw, np.arange(len(rows)),
                                                  rows["code"].to_numpy(), blank, blank,
                                                  rows["first"].to_numpy()))
            self.quarantine_waves += rows["wave"].tolist()
        self._late = []

    def _responses(self, table: pa.Table) -> Responses:
        inst = self.instrument
        names = [n for n in table.schema.names if n not in _ENGINE_COLUMNS]
        return Responses.from_batch(table.select(names), inst.item_ids,
                                    tuple(inst.settings.segments))

    # The run ------------------------------------------------------------------------------
    def collect(self, paths: list[Path]) -> Collected:
        for path in paths:
            check_readable(Path(path))
        for path in paths:
            self._add_file(Path(path))
        inst = self.instrument
        if inst.settings.respondent_id and len(self.files) > 1:
            self._judge("TRUE", across=True)
        if inst.settings.quarantine_straightlining and self.staging:
            rows, keys = self.staging.rows("code = 0 AND straight")
            if rows.num_rows:
                self.con.execute(f"UPDATE keys SET code = {int(Reason.straightlining)} "
                                 "WHERE code = 0 AND straight").fetchall()
                n = rows.num_rows
                self._set_aside(keys, np.ones(n, bool),
                                np.full(n, int(Reason.straightlining)), np.full(n, -1),
                                self._responses(rows).meta[WAVE].to_numpy())
        self._quarantine_set_aside()
        self.quarantine, order = joined(self.quarantines)
        self.quarantine_waves = [self.quarantine_waves[i] for i in order]
        return self._aggregate()

    def valid_batches(self) -> Iterator[Responses]:
        """The valid staged respondents, about :data:`BATCH_ROWS` at a time."""
        pending: list[pa.Table] = []
        size = 0
        for table in self.staging.valid():
            pending.append(table)
            size += table.num_rows
            if size >= BATCH_ROWS:
                yield self._responses(pa.concat_tables(pending).combine_chunks())
                pending, size = [], 0
        if size:
            yield self._responses(pa.concat_tables(pending).combine_chunks())

    def _aggregate(self) -> Collected:
        inst = self.instrument
        parts: list[Aggregates] = []
        valid = {f.index: DataQuality() for f in self.files}
        units: dict[str, list] = {}
        waves: set[str] = set()
        paths = {str(f.path): f.index for f in self.files}
        for responses in self.valid_batches():
            parts.append(aggregate(responses, inst))
            waves |= {str(w) for w in responses.meta[WAVE].unique()}
            straight = straightlining(responses, inst)
            missing = missing_answers(responses)
            for index, wave, mask in by_file_and_wave(responses, paths):
                for q in (valid[int(index)], self._wave_part(wave, int(index))):
                    q.rows_valid += int(mask.sum())
                    q.answers_missing += int(missing[mask].sum())
                    q.straightlining += int(straight[mask].sum())
                if inst.has_importance:
                    counts = allocations(responses.meta[mask], inst)[1]
                    self.importance[wave] = (counts if wave not in self.importance
                                             else self.importance[wave] + counts)
            if self.split_by is not None:
                labels = responses.meta[self.split_by].astype("string")
                for value in labels.dropna().unique():
                    mask = (labels == value).fillna(False).to_numpy()
                    units.setdefault(str(value), []).append(responses.take(mask))
        quarantine = self.quarantine
        quality = DataQuality()
        rejected_by_file = quarantine.groupby(SOURCE)["reason"] if len(quarantine) else None
        for read in self.files:
            q = valid[read.index]
            q.respondents_valid = q.rows_valid
            q.rows_read = read.rows_read
            if rejected_by_file is not None and str(read.path) in rejected_by_file.groups:
                add_rejected(q, rejected_by_file.get_group(str(read.path)).astype(str))
            check(q)
            absent = absent_outcomes(read.names or [], self.instrument)
            q.files.append(file_record(read, q, absent))
            merge(quality, q)
        check(quality)
        columns = {str(f.path): list(f.columns) for f in self.files}
        return Collected(aggregates=Aggregates.concat(parts) if parts else None, quality=quality,
                         waves=sort_waves(waves), quarantine=quarantine, columns=columns,
                         units=self._units(units, quarantine))

    def _wave_part(self, wave: str | None, part: int) -> DataQuality:
        return self._by_wave.setdefault((wave, part), DataQuality())

    def wave_quality(self) -> dict[str | None, DataQuality]:
        """Row accounting of each wave (``None``: rows without a wave label): its valid
        rows and the quarantined rows that carry its label, file by file."""
        quarantine = self.quarantine
        index = {str(f.path): f.index for f in self.files}
        for wave, file, reason in zip(self.quarantine_waves, quarantine[SOURCE].astype(str),
                                      quarantine["reason"].astype(str)):
            q = self._wave_part(wave, index[file])
            q.rows_quarantined += 1
            q.quarantine_reasons[reason] += 1
        out: dict[str | None, DataQuality] = {}
        for (wave, part), q in sorted(self._by_wave.items(),
                                       key=lambda kv: (str(kv[0][0]), kv[0][1])):
            q.respondents_valid = q.rows_valid
            q.rows_read = q.rows_valid + q.rows_quarantined
            q.files.append(file_record(self.files[part], q,
                                      absent_outcomes(self.files[part].names or [],
                                                      self.instrument)))
            merge(out.setdefault(wave, DataQuality()), q)
        return out

    def _units(self, units: dict[str, list], quarantine: pd.DataFrame) -> list[Unit]:
        from .parts import Tally, _naming, _unit_quality

        out = []
        for value in sorted(units):
            found = units[value]
            tally = Tally(Aggregates.concat([aggregate(r, self.instrument) for r in found]),
                          pd.concat([r.meta[SOURCE].astype(str) for r in found])
                          .value_counts().to_dict(),
                          sum(count_missing(r) for r in found),
                          sum(int(straightlining(r, self.instrument).sum()) for r in found))
            rejected = _naming(quarantine, self.split_by, value)
            out.append(Unit(value=value, aggregates=tally.aggregates,
                            quality=_unit_quality([tally], rejected), quarantine=rejected,
                            waves=sort_waves({str(w) for r in found
                                              for w in r.meta[WAVE].unique()})))
        return out

    def common_items(self, member: np.ndarray) -> tuple[Aggregates | None, dict[str, Aggregates]]:
        """The second pass of a changed questionnaire over the valid staged respondents."""
        parts, units = [], {}
        for responses in self.valid_batches():
            parts.append(common_items(responses, self.instrument, member))
            if self.split_by is not None:
                labels = responses.meta[self.split_by].astype("string")
                for value in labels.dropna().unique():
                    mask = (labels == value).fillna(False).to_numpy()
                    units.setdefault(str(value), []).append(
                        common_items(responses.take(mask), self.instrument, member))
        return (Aggregates.concat(parts) if parts else None,
                {v: Aggregates.concat(a) for v, a in units.items()})

    def rows_select(self, wave: str) -> str:
        """SQL of one wave's valid rows in the history store's layout (the columns of
        :meth:`servqual.responses.Responses.to_batch`, a missing answer NULL)."""
        view = self.staging.view()
        names = [n for n in self.staging.schema.names if n not in _ENGINE_COLUMNS]
        answers = {f"{p}:{i}" for p in ("e", "p", "a") for i in self.instrument.item_ids}
        select = [f"nullif({_quote(n)}, 'nan'::FLOAT) AS {_quote(n)}" if n in answers
                  else _quote(n) for n in names]
        wave = wave.replace("'", "''")
        return f"SELECT {', '.join(select)} FROM {view} WHERE {WAVE} = '{wave}'"


def _label(value) -> str | None:
    return None if value is None or pd.isna(value) or value == "" else str(value)

