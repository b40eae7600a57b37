"""The run: survey files (and the history store) in, :class:`~servqual.results.Results` out.

:func:`run` is the one way from inputs to results: the command line, the history store and
the tests all go through it. It reads the files with an engine (:mod:`servqual.engines`),
takes the stored waves from the history store, computes every statistic, finding and
recommendation from the aggregates in one step, and does the same for each unit of
``--split-by``. Rendering and writing are separate steps, so a run that fails has produced
nothing on disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .behaviour import check_matched
from .engines import choose_engine, open_engine, survey_paths
from .errors import DataError, InputFileError, UsageError
from .findings import Target, find, load_complaints, targets_of_unit
from .instrument import Instrument
from .models import Aggregates, Collected, DataQuality, Unit
from .results import Results, current_segments, of_wave
from .stats.aggregate import canonical
from .stats.questionnaire import questionnaire_common
from .stats.tables import build_tables
from .stats.trends import build_trends
from .strategy import StrategyBook, load_strategies, recommend
from .validation.accounting import merge
from .validation.columns import outcome_in_no_file
from .validation.quarantine import empty_quarantine
from .waves import check_wave_spellings, sort_waves


@dataclass
class RunInputs:
    """What a run may be given beyond the survey files (all optional)."""

    targets: list[Target] = field(default_factory=list)
    complaints: Path | None = None
    categories: dict[str, str] | None = None
    peers: tuple[str, dict[str, float]] | None = None
    strategies: StrategyBook | None = None
    benchmark: str | None = None  # segment column; None: the instrument's benchmark_segment
    # In a --split-by unit's report: the whole run's benchmarking rows of that unit.
    own_benchmark: Any = None


def load_inputs(instrument: Instrument, *, targets: Path | None = None,
                complaints: Path | None = None, categories: Path | None = None,
                peers: Path | None = None, benchmark: str | None = None,
                strategies: Path | None = None) -> RunInputs:
    """The optional inputs of a report run, each checked before the survey is read. The
    complaint categories default to ``complaint_categories.toml`` beside the instrument."""
    from .findings import load_categories, load_peers, load_targets

    extra = RunInputs(benchmark=benchmark, strategies=load_strategies(strategies, instrument))
    if targets is not None:
        extra.targets = load_targets(targets, instrument)
    if peers is not None:
        if instrument.servperf:
            raise UsageError("--peers compares gaps with a peer benchmark's gaps, and this "
                             "instrument measures perceptions only (SERVPERF): leave out "
                             "--peers", file=peers)
        extra.peers = load_peers(peers, instrument)
    if complaints is not None:
        if not complaints.is_file():
            raise InputFileError("complaints file does not exist", file=complaints)
        mapping = categories or Path(instrument.path or ".").parent / "complaint_categories.toml"
        extra.complaints = complaints
        extra.categories = load_categories(mapping, instrument)
    elif categories is not None:
        raise UsageError("--categories is only used with --complaints")
    return extra


@dataclass
class Request:
    """One run: the survey files and where the history comes from, how to read them, what
    else to use, and whether to report each unit of a segment column."""

    instrument: Instrument
    files: list[Path] = field(default_factory=list)
    store: Path | None = None
    engine: str = "auto"
    scheduler: str | None = None
    extra: RunInputs = field(default_factory=RunInputs)
    split_by: str | None = None
    wait: float = 30.0
    progress: Callable[[str, float, float], None] | None = None
    on_wait: Callable[[str], None] | None = None


@dataclass
class UnitRun:
    """A unit of ``--split-by`` and its results (None: too few respondents in the current
    wave to report without singling people out)."""

    unit: Unit
    results: Results | None


@dataclass
class Outcome:
    results: Results
    collected: Collected  # the files' accounting, quarantine and columns (empty without files)
    units: list[UnitRun] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)


def validate_files(request: Request) -> Collected:
    """The first half of :func:`run`: read and validate the files, aggregate nothing more
    than the engine does (``servqual validate``)."""
    paths = survey_paths(request.files, request.instrument)[0]
    engine = choose_engine(paths, request.engine, request.instrument)
    with open_engine(engine, request.instrument, progress=request.progress,
                     scheduler=request.scheduler) as reader:
        return reader.collect(paths)


def run(request: Request) -> Outcome:
    """Read, validate and compute everything the request asks for."""
    instrument = request.instrument
    if request.split_by is not None and request.split_by not in instrument.analysis_segments:
        raise UsageError(f"--split-by {request.split_by!r} is not a segment column of the "
                         f"instrument ({', '.join(instrument.analysis_segments) or 'none'})")
    paths = survey_paths(request.files, instrument)[0] if request.files else []
    if not paths and request.store is None:
        raise UsageError("give survey files, or a history store with --store")
    collected = Collected(aggregates=None, quality=DataQuality(), waves=[],
                          quarantine=empty_quarantine())
    inputs = [str(p) for p in paths]
    parts: list[tuple[Aggregates | None, DataQuality, list[str]]] = []
    common = None
    unit_common: dict[str, Aggregates] = {}
    engine = choose_engine(paths, request.engine, instrument) if paths else None
    with contextlib.ExitStack() as stack:
        reader = stack.enter_context(open_engine(
            engine, instrument, split_by=request.split_by, progress=request.progress,
            scheduler=request.scheduler)) if engine else None
        if paths:
            collected = reader.collect(paths)
            _outcomes_absent(collected, instrument, stored=request.store is not None)
            parts.append((collected.aggregates, collected.quality, collected.waves))
        store = None
        if request.store is not None:
            from .store.history import Store

            store = stack.enter_context(Store.open(request.store, wait=request.wait,
                                                   on_wait=request.on_wait))
            inputs.append(str(request.store))
        if store is not None:
            stored = store.load(instrument, exclude=set(collected.waves), files=set(inputs))
            parts.append(stored)
        aggregates, quality, waves = _combined(parts)
        check_wave_spellings(collected.waves, [w for w in waves if w not in collected.waves])
        if not waves:
            raise no_valid_responses(quality)
        answered = ("the perception" if instrument.servperf
                    else "both the expectation and the perception")
        where = ', '.join(f['file'] for f in quality.files) or 'the store'
        if not _scored(aggregates, "item", instrument.score):
            raise DataError(
                f"no respondent answered {answered} of any item, so there is no "
                f"{instrument.score} to analyse; check the columns the instrument names for "
                f"each item ({where})",
                file=quality.files[0]["file"] if len(quality.files) == 1 else None)
        if not _scored(aggregates, "dimension", instrument.score):
            raise DataError(
                f"no respondent has a dimension score: each answered {answered} of fewer "
                f"than {instrument.analysis.min_item_share:.0%} of a dimension's items "
                "(min_item_share in [analysis]); check that the instrument names the right "
                f"columns and missing codes ({where})",
                file=quality.files[0]["file"] if len(quality.files) == 1 else None)
        member = questionnaire_common(aggregates.moments, instrument)
        if member is not None:  # the items asked in every wave: a second pass
            if paths:
                common, unit_common = reader.common_items(member)
            if store is not None:
                common = _plus(common, store.common_items(member, instrument,
                                                          exclude=set(collected.waves)))
            aggregates = _plus(aggregates, common)
    results = compute(aggregates, quality, waves, instrument, request.extra, inputs)
    if paths:
        check_matched(results.tables.outcomes, instrument)
    units = [_unit_run(u, unit_common.get(u.value), results, request, inputs)
             for u in collected.units]
    return Outcome(results=results, collected=collected, units=units, inputs=inputs)


def _outcomes_absent(collected: Collected, instrument: Instrument, stored: bool) -> None:
    """An outcome none of the files has is an error (a misspelt column), unless a history
    store may hold it for earlier waves; one some files lack is named in each such file's
    record, the units' records included."""
    error = outcome_in_no_file(collected.quality.files, collected.columns, instrument)
    if error is not None and not stored:
        raise error
    absent = {f["file"]: f["outcomes_absent"] for f in collected.quality.files
              if f.get("outcomes_absent")}
    for unit in collected.units:
        for record in unit.quality.files:
            if record["file"] in absent:
                record["outcomes_absent"] = list(absent[record["file"]])


def _scored(aggregates: Aggregates, level: str, measure: str) -> bool:
    """Whether any respondent has a score of ``measure`` at ``level`` (an item's gap: both
    its expectation and its perception answered)."""
    m = aggregates.moments
    return bool(((m["level"] == level) & (m["measure"] == measure) & (m["n"] > 0)).any())


def _plus(aggregates: Aggregates | None, more: Aggregates | None) -> Aggregates | None:
    parts = [a for a in (aggregates, more) if a is not None]
    return Aggregates.concat(parts) if parts else None


def _combined(parts: list) -> tuple[Aggregates | None, DataQuality, list[str]]:
    """Aggregates of disjoint waves (files and the store), as one; the row accounting lists
    the parts in the order of their first wave."""
    order = {w: n for n, w in enumerate(sort_waves([w for _, _, ws in parts for w in ws]))}
    parts = sorted(parts, key=lambda p: min((order[w] for w in p[2]), default=len(order)))
    quality = DataQuality()
    for _, q, _ in parts:
        merge(quality, q)
    return (_plus(None, Aggregates.concat([a for a, _, _ in parts if a is not None]))
            if any(a is not None for a, _, _ in parts) else None,
            quality, sort_waves([w for _, _, ws in parts for w in ws]))


def _unit_run(unit: Unit, common: Aggregates | None, whole: Results, request: Request,
              inputs: list[str]) -> UnitRun:
    """A unit judged on its own respondents against its targets (its own replace the
    company's, :func:`.findings.targets_of_unit`); the complaints log belongs to the whole,
    and the benchmarking of units by the split column comes from the whole: the unit's place
    among the other units is its own evidence."""
    instrument = request.instrument
    current = whole.current_wave
    moments = unit.aggregates.moments if unit.aggregates is not None else None
    n = 0
    if moments is not None:
        rows = moments[(moments["wave"] == current) & (moments["segment"] == "")
                       & (moments["level"] == "dimension")
                       & (moments["measure"] == instrument.score)]
        n = int(rows["n"].max()) if len(rows) else 0
    if n < instrument.analysis.min_cell:
        return UnitRun(unit, None)
    extra = request.extra
    bench = instrument.analysis.benchmark_segment if extra.benchmark is None else extra.benchmark
    own = None
    if bench == request.split_by and whole.findings is not None and len(whole.findings.benchmark):
        b = whole.findings.benchmark
        own = b[(b["column"] == bench) & (b["unit"].astype(str) == unit.value)]
    unit_extra = dataclasses.replace(
        extra, complaints=None, categories=None,
        benchmark="" if bench == request.split_by else bench,
        targets=targets_of_unit(extra.targets, request.split_by, unit.value),
        own_benchmark=own)
    aggregates = _plus(unit.aggregates, common)
    return UnitRun(unit, compute(aggregates, unit.quality, unit.waves, instrument, unit_extra,
                                 inputs))


def compute(aggregates: Aggregates, quality: DataQuality, waves: list[str],
            instrument: Instrument, extra: RunInputs | None = None,
            inputs: list[str] | None = None) -> Results:
    """Statistics, trends, findings and recommendations from aggregates, in one step."""
    extra = extra or RunInputs()
    config = instrument.analysis
    waves = sort_waves(waves)
    aggregates = canonical(aggregates, instrument)
    tables = build_tables(aggregates, instrument, waves)
    trends = build_trends(tables, waves, config, instrument.score)
    complaints = None
    if extra.complaints is not None:
        if extra.categories is None:
            raise UsageError("complaints need a category mapping (--categories)")
        complaints = load_complaints(extra.complaints, extra.categories, instrument, waves)
    benchmark = config.benchmark_segment if extra.benchmark is None else extra.benchmark
    if benchmark and benchmark not in instrument.analysis_segments:
        raise UsageError(f"--benchmark {benchmark!r} is not a segment column of the instrument "
                         f"({', '.join(instrument.analysis_segments) or 'none'})")
    current = waves[-1]
    findings = find(tables=tables, aggregates=aggregates, waves=waves, instrument=instrument,
                    trends=trends, segments=current_segments(tables.dimensions, current, config),
                    segment_tests=of_wave(tables.segment_tests, current),
                    targets=extra.targets, complaints=complaints, peers=extra.peers,
                    benchmark_column=benchmark,
                    segment_items=current_segments(tables.items, current, config),
                    own_benchmark=extra.own_benchmark)
    book = extra.strategies or load_strategies(None, instrument)
    weak = findings.weak_points
    dimension_priority = {p.id: p.priority for p in weak if p.kind == "dimension"}
    whole_gaps = {}
    for level, table in (("dimension", tables.dimensions), ("item", tables.items)):
        rows = table[(table["segment"] == "") & (table["wave"] == current)]
        whole_gaps.update(zip(zip([level] * len(rows), rows[level]),
                              rows[f"{instrument.score}_mean"]))
    recommendations = [recommend(p, book, instrument, config, dimension_priority,
                                 whole_gap=whole_gaps.get(p.subject)) for p in weak]
    return Results.build(instrument=instrument, waves=waves, quality=quality,
                         aggregates=aggregates, tables=tables, inputs=inputs or [],
                         findings=findings, recommendations=recommendations, strategy_book=book)


def no_valid_responses(quality: DataQuality, to: str = "analyse") -> DataError:
    """The error of a run left with no respondent: it names the files read (the one file as
    the error's file) and the reasons their rows were quarantined, or that they hold none."""
    files = [f["file"] for f in quality.files]
    where = f" in {', '.join(files)}" if len(files) > 1 else ""
    if not quality.rows_read:
        return DataError(f"no valid responses to {to}{where}: the file"
                         f"{'s hold' if len(files) > 1 else ' holds'} no data rows (a header "
                         "only)", file=files[0] if len(files) == 1 else None)
    reasons = ", ".join(f"{k}: {v}" for k, v in quality.quarantine_reasons.items() if v)
    return DataError(f"no valid responses to {to}{where}: every row was quarantined "
                     f"({reasons}); servqual validate writes each rejected row with its reason",
                     file=files[0] if len(files) == 1 else None)

