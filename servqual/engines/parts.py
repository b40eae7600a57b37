"""Parts: the unit of work of the memory and Dask engines.

A part is one survey file, a row group of a Parquet file of several or a run of records of
a large text file (rows numbered as in the whole file), or all the files as one where
respondents must be judged together (:mod:`.partition` lists them). Its work,
:func:`check_part`, is a pure function of its files: read them, validate every row, and
aggregate the valid respondents (and those of each ``--split-by`` unit). It runs wherever
the engine puts it, in this process or on a worker of a cluster, and the results of parts
add up (:func:`assemble`).

What no part can see alone is a respondent given in two parts: two files of one wave, or two
row groups or spans of one file. Each part returns the key hashes of the rows the duplicate
rule judges; a key found in two parts is judged over all its copies
(:func:`servqual.validation.duplicates.judge_shared`, called by :func:`overrides_of`), and
the parts holding them are checked again with the verdicts (``overrides``). This costs
nothing when no respondent is in two parts, the usual case of one file per wave.

When the questionnaire changed between waves, dimension trends use the items asked in every
wave, known only once every part is done: :func:`common_part` is a second pass over the
parts, only then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from ..ingest import read_table
from ..ingest.parquet import read_parquet_groups
from ..ingest.text import read_text_span
from . import reads_together
from ..instrument import Instrument
from ..models import Aggregates, Collected, DataQuality, Unit
from ..quarantine import SOURCE
from ..responses import WAVE, Responses
from ..stats.aggregate import aggregate
from ..stats.questionnaire import common_items
from ..validation import Checked, Overrides, check_table, duplicates
from ..validation.accounting import add_rejected, check, count_missing, merge
from ..validation.quarantine import joined
from ..validation.straightlining import straightlining
from ..validation.tables import check_tables
from ..waves import sort_waves
from .partition import Part, parts_of

# (function, items) → results in order: the builtin map, a thread pool's, a cluster's.
MapFn = Callable[..., list]  # (function, items, what): results in order; what names the pass


@dataclass
class Tally:
    """One ``--split-by`` unit's respondents within a part."""

    aggregates: Aggregates | None
    valid: dict[str, int]  # valid rows per file
    answers_missing: int
    straightlining: int


@dataclass
class PartResult:
    part: Part
    quality: DataQuality
    quarantine: pd.DataFrame
    columns: dict[str, list[str]]
    waves: list[str]
    aggregates: Aggregates | None
    units: dict[str, Tally] = field(default_factory=dict)
    hashes: np.ndarray | None = None  # key hashes of the rows judged for duplicates


def _checked(part: Part, instrument: Instrument, overrides: Overrides | None,
             ask: np.ndarray | None = None) -> Checked:
    if part.groups is not None:
        raw = read_parquet_groups(part.paths[0], *part.groups, part.first_row)
        return check_table(raw, instrument, overrides, ask)
    if part.span is not None:
        raw = read_text_span(part.paths[0], instrument, part.span)
        return check_table(raw, instrument, overrides, ask)
    if len(part.paths) == 1 and not reads_together(instrument):
        return check_table(read_table(part.paths[0], instrument), instrument, overrides, ask)
    return check_tables((read_table(p, instrument) for p in part.paths), instrument)


def check_part(part: Part, instrument: Instrument, split_by: str | None = None,
               overrides: Overrides | None = None) -> PartResult:
    """Read, validate and aggregate a part. ``overrides``: duplicate verdicts settled across
    parts."""
    checked = _checked(part, instrument, overrides)
    responses = checked.responses
    hashes = None
    if checked.keys is not None and len(part.paths) == 1:
        hashes = checked.keys[0]
    return PartResult(
        part=part, quality=checked.quality, quarantine=checked.quarantine,
        columns=checked.columns, waves=_waves(responses),
        aggregates=aggregate(responses, instrument) if len(responses) else None,
        units=_tallies(responses, instrument, split_by), hashes=hashes)


def describe_part(part: Part, instrument: Instrument, ask: np.ndarray) -> pd.DataFrame:
    """The rows of a part whose key hash is in ``ask``, as the duplicate rule across parts
    judges them (:func:`servqual.validation.duplicates.describe`)."""
    return _checked(part, instrument, None, ask).detail


def _waves(responses: Responses) -> list[str]:
    return sorted({str(w) for w in responses.meta[WAVE].unique() if not pd.isna(w)})


def _tallies(responses: Responses, instrument: Instrument, split_by: str | None
             ) -> dict[str, Tally]:
    if split_by is None or not len(responses):
        return {}
    labels = responses.meta[split_by].astype("string")
    straight = straightlining(responses, instrument)
    files = responses.meta[SOURCE].astype(str)
    out = {}
    for value in sorted(labels.dropna().unique()):
        mask = (labels == value).fillna(False).to_numpy()
        unit = responses.take(mask)
        out[str(value)] = Tally(aggregate(unit, instrument),
                                files[mask].value_counts().to_dict(), count_missing(unit),
                                int(straight[mask].sum()))
    return out


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted: np.unique by a sort (numpy 2's hash-based np.unique
    takes 70 times longer on a million random 64-bit hashes)."""
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def settle(results: list[PartResult]) -> dict[int, np.ndarray]:
    """The key hashes each part shares with another part (empty: nothing to settle)."""
    with_keys = [r for r in results if r.hashes is not None and len(r.hashes)]
    if len(with_keys) < 2:
        return {}
    hashes = np.sort(np.concatenate([_distinct(r.hashes) for r in with_keys]))
    shared = _distinct(hashes[1:][hashes[1:] == hashes[:-1]])  # by a sort, see _distinct
    if not len(shared):
        return {}
    # The part's hashes looked up among the few shared ones: np.isin of the few in a
    # million sorts the million (0.5 s a part).
    held = {r.part.index: _distinct(r.hashes[np.isin(r.hashes, shared)]) for r in with_keys}
    return {index: keys for index, keys in held.items() if len(keys)}


def overrides_of(details: dict[int, pd.DataFrame], keep: str = "quarantine"
                 ) -> dict[int, Overrides]:
    """The duplicate rule (:func:`servqual.validation.duplicates.judge_shared`) over the rows
    that parts share keys with, in input order (part by part, row by row): the verdicts of
    the parts where it decides otherwise than the part alone."""
    frame = pd.concat([d.assign(part=i) for i, d in sorted(details.items())],
                      ignore_index=True).sort_values(["part", "position"], kind="stable")
    reason, first = duplicates.judge_shared(frame, keep)
    frame = frame.assign(reason=reason, first=first)
    changed = (frame["reason"] != frame["own_reason"]) | (frame["first"] != frame["own_first"])
    return {int(i): (rows["position"].to_numpy(), rows["reason"].to_numpy(),
                     rows["first"].to_numpy())
            for i, rows in frame.groupby("part") if changed[rows.index].any()}


def run_parts(parts: list[Part], instrument: Instrument, map_: MapFn,
              split_by: str | None = None) -> tuple[list[PartResult], dict[int, Overrides]]:
    """Every part checked (by ``map_``), with the respondents shared by parts settled."""
    results = map_(lambda p: check_part(p, instrument, split_by), parts, "reading parts")
    asked = settle(results)
    if not asked:
        return results, {}
    described = map_(lambda p: (p.index, describe_part(p, instrument, asked[p.index])),
                     [parts[i] for i in sorted(asked)], "finding respondents parts share")
    overrides = overrides_of(dict(described), instrument.settings.duplicates)
    again = map_(lambda p: check_part(p, instrument, split_by, overrides[p.index]),
                 [parts[i] for i in sorted(overrides)], "reading again parts they share")
    for result in again:
        results[result.part.index] = result
    return results, overrides


def common_part(part: Part, instrument: Instrument, member: np.ndarray,
                overrides: Overrides | None, split_by: str | None
                ) -> tuple[Aggregates | None, dict[str, Aggregates]]:
    """The second pass of a changed questionnaire: dimension scores from the items asked in
    every wave (:func:`servqual.stats.questionnaire.common_items`), for all and for each unit."""
    responses = _checked(part, instrument, overrides).responses
    if not len(responses):
        return None, {}
    units = {}
    if split_by is not None:
        labels = responses.meta[split_by].astype("string")
        for value in sorted(labels.dropna().unique()):
            mask = (labels == value).fillna(False).to_numpy()
            units[str(value)] = common_items(responses.take(mask), instrument, member)
    return common_items(responses, instrument, member), units


def assemble(results: list[PartResult], split_by: str | None = None) -> Collected:
    """The parts' results as one: aggregates added, accounting merged, quarantines joined."""
    quality = DataQuality()
    for r in results:
        merge(quality, r.quality)
    quality.files = _by_file(quality.files)
    check(quality)
    quarantine = joined([r.quarantine for r in results])[0]
    columns = {k: v for r in results for k, v in r.columns.items()}
    aggregates = [r.aggregates for r in results if r.aggregates is not None]
    units = []
    if split_by is not None:
        values = sorted({v for r in results for v in r.units})
        for value in values:
            tallies = [r.units[value] for r in results if value in r.units]
            rejected = _naming(quarantine, split_by, value)
            units.append(Unit(value=value,
                              aggregates=Aggregates.concat([t.aggregates for t in tallies]),
                              quality=_unit_quality(tallies, rejected), quarantine=rejected,
                              waves=sort_waves({w for r in results if value in r.units
                                                for w in r.waves})))
    return Collected(aggregates=Aggregates.concat(aggregates) if aggregates else None,
                     quality=quality, waves=sort_waves({w for r in results for w in r.waves}),
                     quarantine=quarantine, columns=columns, units=units)


def _by_file(records: list[dict]) -> list[dict]:
    """One accounting entry per file: the counts of a file's parts (its row groups) added."""
    files: dict[str, dict] = {}
    for record in records:
        entry = files.get(record["file"])
        if entry is None:
            files[record["file"]] = dict(record)
            continue
        for count in ("rows_read", "rows_valid", "rows_quarantined"):
            entry[count] += record[count]
    return list(files.values())


def _naming(quarantine: pd.DataFrame, column: str, value: str) -> pd.DataFrame:
    """The quarantined rows that name ``value`` in ``column``."""
    if column not in quarantine.columns:
        return quarantine.iloc[:0]
    labels = quarantine[column].astype("string").str.strip()
    return quarantine[(labels == value).fillna(False).to_numpy()].reset_index(drop=True)


def _unit_quality(tallies: list[Tally], rejected: pd.DataFrame) -> DataQuality:
    """Row accounting of one unit: its valid rows and the quarantined rows that name it."""
    quality = DataQuality()
    valid_by_file: dict[str, int] = {}
    for t in tallies:
        for file, n in t.valid.items():
            valid_by_file[file] = valid_by_file.get(file, 0) + n
        quality.answers_missing += t.answers_missing
        quality.straightlining += t.straightlining
    quality.rows_valid = quality.respondents_valid = sum(valid_by_file.values())
    add_rejected(quality, rejected["reason"].astype(str))
    quality.rows_read = quality.rows_valid + quality.rows_quarantined
    rejected_by_file = rejected[SOURCE].astype(str).value_counts()
    for file in sorted(set(valid_by_file) | set(rejected_by_file.index)):
        valid, bad = valid_by_file.get(file, 0), int(rejected_by_file.get(file, 0))
        quality.files.append({"file": file, "rows_read": valid + bad, "rows_valid": valid,
                              "rows_quarantined": bad})
    check(quality)
    return quality


def local_map(function: Callable, items: list, what: str, progress=None) -> list:
    """Parts one after another in this process: one part's rows in memory at a time;
    ``progress`` (``what`` the pass is, done, total) is told after each."""
    done = []
    for item in items:
        done.append(function(item))
        if progress is not None:
            progress(what, len(done), len(items))
    return done


class PartsEngine:
    """Survey files checked and aggregated a part at a time by ``map_``: in this process
    (the memory engine, :func:`local_map`) or on a cluster (:mod:`.dask`)."""

    def __init__(self, instrument: Instrument, *, map_: MapFn = local_map,
                 split_by: str | None = None, progress=None):
        if progress is not None and map_ is local_map:
            map_ = partial(local_map, progress=progress)
        self.instrument, self.map, self.split_by = instrument, map_, split_by
        self.parts: list[Part] = []
        self.overrides: dict[int, Overrides] = {}

    def __enter__(self) -> PartsEngine:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def collect(self, paths: list) -> Collected:
        self.parts = parts_of(paths, self.instrument)
        results, self.overrides = run_parts(self.parts, self.instrument, self.map,
                                            self.split_by)
        return assemble(results, self.split_by)

    def common_items(self, member: np.ndarray) -> tuple[Aggregates | None, dict[str, Aggregates]]:
        inst, split_by, overrides = self.instrument, self.split_by, self.overrides
        done = self.map(lambda p: common_part(p, inst, member, overrides.get(p.index), split_by),
                        self.parts, "reading parts again: items asked in every wave")
        whole = [a for a, _ in done if a is not None]
        units: dict[str, list[Aggregates]] = {}
        for _, by_unit in done:
            for value, a in by_unit.items():
                units.setdefault(value, []).append(a)
        return (Aggregates.concat(whole) if whole else None,
                {v: Aggregates.concat(a) for v, a in units.items()})
