"""Command line (contract §2). Thin: parse, call the library, map errors to exit codes.

User mistakes (bad data, bad instrument, missing files, unwritable outputs) are
:class:`~servqual.errors.ServqualError` and end with a one-line message and their exit code;
anything else is a bug and keeps its traceback (exit 1).

The statistics, pandas and the readers are imported inside the commands that use them, so
that ``servqual trend`` answers from the history store in a fraction of a second.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .celltext import bounded
from .engines import ENGINES, survey_paths
from .errors import InputFileError, ServqualError, UsageError
from .instrument import DEFAULT_INSTRUMENT, LANGUAGES, Instrument, load_instrument
from .quarantine import quarantine_path
from .store import DEFAULT_STORE, DEFAULT_WAIT
from .tuning import before_exit, tune_process

if TYPE_CHECKING:
    from .ingest import RawTable
    from .pipeline import RunInputs
    from .validate import DataQuality, Validated

app = typer.Typer(
    name="servqual",
    help="SERVQUAL service-quality surveys in, management decisions out.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)

InstrumentOption = Annotated[
    Path, typer.Option("--instrument", "-i", help="Instrument file (TOML) naming the columns.")]
FilesArgument = Annotated[
    list[Path], typer.Argument(help="Survey files: one per wave, or one holding several waves.",
                               show_default=False)]
StoreOption = Annotated[
    Path, typer.Option("--store", help="The history store (a DuckDB file).")]
WaitOption = Annotated[
    float, typer.Option("--wait", help="Seconds to wait while another servqual process uses "
                        "the store.")]
# Option values from fixed sets are checked by the parser, before anything is read: a
# mistake there is a usage error (exit 2) however large the survey.
EngineOption = Annotated[
    Literal[ENGINES], typer.Option("--engine", help="auto (by input size), memory, or duckdb "
                                   "(out of core: bounded memory, also reads Parquet).")]


def handle_errors(func):
    """Turn user mistakes into a message and their exit code, at the boundary."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ServqualError as err:
            err_console.print(f"servqual: error: {err}", markup=False, soft_wrap=True)
            raise typer.Exit(err.exit_code) from None

    return wrapper


def progress_bar() -> Progress:
    """A progress bar on a terminal, silence otherwise."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err_console, transient=True,
                    disable=not err_console.is_terminal)


def read_with_progress(paths: list[Path], instrument: Instrument, progress: Progress
                       ) -> Iterator[RawTable]:
    from .ingest import read_table

    task = progress.add_task("reading", total=len(paths))
    for path in paths:
        progress.update(task, description=f"reading {path.name}")
        yield read_table(path, instrument)
        progress.advance(task)


def steps(progress: Progress):
    """A progress callback (what, done, total) shown as one bar."""
    task = progress.add_task("starting", total=None)

    def update(what: str, done: float, total: float) -> None:
        progress.update(task, description=what, completed=done, total=total)

    return update


def inputs_of(files: list[Path]) -> list[Path]:
    """The survey files among the inputs (see :func:`servqual.engines.survey_paths`); the
    quarantine files left out are named on the terminal."""
    paths, skipped = survey_paths(files)
    for path in skipped:
        _say(f"left out {path}: it holds rejected rows written by servqual (a quarantine "
             "file), not survey responses")
    return paths


def read_and_validate(files: list[Path], instrument_path: Path
                      ) -> tuple[Instrument, Validated, list[Path]]:
    from .validate import validate as validate_tables

    paths = inputs_of(files)
    instrument = load_instrument(instrument_path)
    with progress_bar() as progress:
        validated = validate_tables(read_with_progress(paths, instrument, progress), instrument)
    return instrument, validated, paths


def print_accounting(validated, console: Console) -> None:
    from .validate import REASONS

    q = validated.quality
    table = Table(title="Row accounting", title_justify="left", show_edge=False)
    table.add_column("file")
    table.add_column("read", justify="right")
    table.add_column("valid", justify="right")
    table.add_column("quarantined", justify="right")
    for f in q.files:
        table.add_row(f["file"], f"{f['rows_read']:,}", f"{f['rows_valid']:,}",
                      f"{f['rows_quarantined']:,}")
    table.add_row("total", f"{q.rows_read:,}", f"{q.rows_valid:,}", f"{q.rows_quarantined:,}",
                  style="bold")
    console.print(table)
    reasons = Table(title="Quarantine reasons", title_justify="left", show_edge=False)
    reasons.add_column("reason")
    reasons.add_column("rows", justify="right")
    for reason in REASONS:
        reasons.add_row(reason, f"{q.quarantine_reasons.get(reason, 0):,}")
    console.print(reasons)
    console.print(f"answers missing: {q.answers_missing:,}   straight-lining: {q.straightlining:,}"
                  f"   respondents analysed: {q.respondents_valid:,}")
    console.print(f"rows_read {q.rows_read} = rows_valid {q.rows_valid} + "
                  f"rows_quarantined {q.rows_quarantined}")


def run_inputs(instrument: Instrument, instrument_path: Path, *, targets: Path | None,
               complaints: Path | None, categories: Path | None, peers: Path | None,
               benchmark: str | None, strategies: Path | None) -> RunInputs:
    """Load the optional inputs of a report run, checking each before the survey is read."""
    from .findings import load_categories, load_peers, load_targets
    from .pipeline import RunInputs
    from .strategy import load_strategies

    extra = RunInputs(benchmark=benchmark,
                      strategies=load_strategies(strategies, instrument))
    if targets is not None:
        extra.targets = load_targets(targets, instrument)
    if peers is not None:
        extra.peers = load_peers(peers, instrument)
    if complaints is not None:
        if not complaints.is_file():
            raise InputFileError("complaints file does not exist", file=complaints)
        mapping = categories or instrument_path.parent / "complaint_categories.toml"
        extra.complaints = complaints
        extra.categories = load_categories(mapping, instrument)
    elif categories is not None:
        raise UsageError("--categories is only used with --complaints")
    return extra


@app.command()
@handle_errors
def report(
    files: Annotated[Optional[list[Path]], typer.Argument(
        help="Survey files: one per wave, or one holding several waves (optional with "
        "--store).", show_default=False)] = None,
    instrument: InstrumentOption = DEFAULT_INSTRUMENT,
    lang: Annotated[Literal[LANGUAGES], typer.Option("--lang", help="Report language.")
                    ] = "en",
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML report to write.")] = Path(
        "servqual-report.html"),
    json_out: Annotated[Optional[Path], typer.Option(
        "--json", help="Also write the results as JSON here.")] = None,
    template_dir: Annotated[Optional[Path], typer.Option(
        "--template-dir", help="Directory of templates that override the built-in ones.")] = None,
    targets: Annotated[Optional[Path], typer.Option(
        "--targets", help="Service targets (TOML), e.g. surveys/targets.toml.")] = None,
    complaints: Annotated[Optional[Path], typer.Option(
        "--complaints", help="Complaints log (CSV with a category and a date or wave).")] = None,
    categories: Annotated[Optional[Path], typer.Option(
        "--categories", help="Complaint category → dimension map (TOML); default: "
        "complaint_categories.toml beside the instrument.")] = None,
    peers: Annotated[Optional[Path], typer.Option(
        "--peers", help="External benchmark of peer gaps (TOML).")] = None,
    benchmark: Annotated[Optional[str], typer.Option(
        "--benchmark", help="Segment column whose units to benchmark (overrides the "
        "instrument's benchmark_segment; '' for none).")] = None,
    strategies: Annotated[Optional[Path], typer.Option(
        "--strategies", help="Strategy texts (TOML) instead of the built-in ones.")] = None,
    split_by: Annotated[Optional[str], typer.Option(
        "--split-by", help="Also write one report per value of this segment column (e.g. "
                           "region), each against all respondents.")] = None,
    pdf: Annotated[bool, typer.Option(
        "--pdf", help="Also print each report to PDF beside it (needs Chromium).")] = False,
    store: Annotated[Optional[Path], typer.Option(
        "--store", help="Take the history from this store (servqual ingest); files given "
        "replace their waves in this run.")] = None,
    engine: EngineOption = "auto",
    wait: WaitOption = DEFAULT_WAIT,
) -> None:
    """The quarterly run: ingest, validate, compute, and write the HTML report (and JSON).

    Rejected rows are written beside the report as <report>.rejected.csv, with a reason each.
    With --store, the waves stored there are part of the run without reading their files.
    """
    from .engines import ahead_for, choose_engine, read_ahead

    if template_dir is not None and not template_dir.is_dir():
        raise UsageError(f"--template-dir {template_dir} is not a directory")
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out {out} should end in .html")
    if not files and store is None:
        raise UsageError("give survey files, or a history store with --store")
    if split_by is not None:
        # A unit's report comes from its own respondents, so the files are read in memory.
        if store is not None:
            raise UsageError("--split-by reports each unit from the survey files' respondents; "
                             "it cannot take the history from --store")
        if engine == "duckdb":
            raise UsageError("--split-by needs the files read in memory (--engine memory)")
        from .engines import PARQUET_SUFFIXES

        if any(Path(f).suffix.lower() in PARQUET_SUFFIXES for f in files):
            raise UsageError("--split-by needs the files read in memory, and Parquet files are "
                             "read by the duckdb engine only: give the survey as CSV or Excel "
                             "to split it")
        engine = "memory"
    paths = inputs_of(files) if files else []
    loaded = load_instrument(instrument)
    if split_by is not None and split_by not in loaded.analysis_segments:
        raise UsageError(f"--split-by {split_by!r} is not a segment column of the instrument "
                         f"({', '.join(loaded.analysis_segments) or 'it names none'})")
    chosen = choose_engine(paths, engine, loaded) if paths else None
    in_memory = chosen == "memory"
    with progress_bar() as progress, read_ahead(
            read_with_progress(paths, loaded, progress) if in_memory else (),
            ahead_for(paths) if in_memory else 0) as tables:
        # The first file is being read from here on: the rest of servqual loads meanwhile.
        # (A mistake found below is reported once that read is done, a second or so.)
        import pandas as pd

        from .outputs import OutputSet
        from .pipeline import combine, compute, compute_aggregated, read_files, split
        from .report import render_html  # plotly and jinja2 load only when a report is written
        from .report.files import unit_paths
        from .report.pdf import find_browser, print_pdf
        from .stats.kernels import warm_up
        from .validate import QUARANTINE_COLUMNS

        if in_memory:
            warm_up()  # numba's compiler loads now, not at the first file's validation
        browser = find_browser() if pdf else None  # fail before the analysis, not after it
        extra = run_inputs(loaded, instrument, targets=targets, complaints=complaints,
                           categories=categories, peers=peers, benchmark=benchmark,
                           strategies=strategies)
        parts, inputs = [], [str(p) for p in paths]
        quarantine = pd.DataFrame(columns=QUARANTINE_COLUMNS)
        checked = None
        if paths:
            data, checked = read_files(
                paths, loaded, engine=engine, progress=steps(progress),
                tables=tables if in_memory else None,
                keep_responses=split_by is not None)
            parts.append(data)
            quarantine = checked.quarantine
    if store is not None:
        from .store.history import Store

        with Store.open(store, wait=wait, on_wait=_say) as history:
            parts.append(history.load(loaded, exclude=set(parts[0].waves) if parts else set()))
        inputs.append(str(store))
    data = combine(parts)
    results = compute_aggregated(data, loaded, inputs=inputs, extra=extra)
    pages = [(out, render_html(results, lang=lang, template_dir=template_dir), quarantine)]
    skipped: list[str] = []
    if split_by is not None:
        # A unit is judged on its own respondents against its targets; the complaints log
        # and the benchmarking of units by the split column belong to the whole.
        bench = loaded.analysis.benchmark_segment if extra.benchmark is None else extra.benchmark
        unit_extra = dataclasses.replace(extra, complaints=None, categories=None,
                                         benchmark="" if bench == split_by else bench)
        units = split(checked, split_by, loaded)
        destinations = unit_paths(out, split_by, [value for value, _ in units])
        for value, unit in units:
            # A unit's report is about the current wave: a unit with too few respondents in
            # it (a region closed since, a shop of three) gets none, so that nobody is
            # singled out and no old wave passes for the current one.
            current = int((unit.responses.meta["wave"].astype(str)
                           == results.current_wave).sum())
            if current < loaded.analysis.min_cell:
                skipped.append(value)
                continue
            unit_results = compute(unit, loaded, inputs=inputs, extra=unit_extra)
            html = render_html(unit_results, lang=lang, template_dir=template_dir,
                               comparison=results, unit={"column": split_by, "value": value})
            pages.append((destinations[value], html, unit.quarantine))
    with OutputSet() as outputs:
        for dest, html, rejected in pages:
            outputs.write_text(dest, html)
            outputs.write_csv(quarantine_path(dest), rejected)
            if browser is not None:
                print_pdf(html, outputs.temp_path(dest.with_suffix(".pdf")), browser)
        if json_out is not None:
            outputs.write_text(json_out, results.dumps())
        written = outputs.destinations
    q = data.quality
    err_console.print(f"{q.rows_read:,} rows read: {q.rows_valid:,} analysed, "
                      f"{q.rows_quarantined:,} quarantined", markup=False)
    for f in q.files:
        if f["rows_valid"] == 0 and f["rows_read"]:
            _say(f"warning: {f['file']}: every row was quarantined; it adds nothing to the "
                 f"report (its rejected rows are in {quarantine_path(out)})")
    for value in skipped:
        err_console.print(f"no report for {split_by} = {bounded(value)}: fewer than "
                          f"{loaded.analysis.min_cell} respondents (min_cell) in "
                          f"{results.current_wave}", markup=False)
    for path in written:
        out_console.print(str(path), markup=False, soft_wrap=True)


@app.command()
@handle_errors
def validate(
    files: FilesArgument,
    instrument: InstrumentOption = DEFAULT_INSTRUMENT,
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out-dir", help="Where to write <file>.rejected.csv (default: beside each input).")
    ] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Exit 65 when any row is quarantined.")] = False,
) -> None:
    """Ingest and validate only: print the row accounting and write the quarantined rows.

    Each input gets <file>.rejected.csv (its rejected rows with a reason column). Exit 65
    when a file has no valid row (its quarantine file says why), or with --strict when any
    row is quarantined.
    """
    from .outputs import OutputSet

    _, validated, paths = read_and_validate(files, instrument)
    rejected = {str(path): validated.quarantine_of(str(path)) for path in paths}
    with OutputSet() as outputs:
        for path in paths:
            dest = quarantine_path(path if out_dir is None else out_dir / path.name)
            outputs.write_csv(dest, rejected[str(path)])
        written = outputs.destinations
    print_accounting(validated, out_console)
    for path in written:
        out_console.print(f"quarantine: {path}", markup=False, soft_wrap=True)
    empty = [f for f in validated.quality.files if f["rows_valid"] == 0]
    for f in empty:
        reasons = rejected[f["file"]]["reason"].value_counts()
        why = ", ".join(f"{r} {n:,}" for r, n in reasons.items()) or "it has no data rows"
        err_console.print(f"servqual: error: {f['file']}: no valid row ({why})", markup=False,
                          soft_wrap=True)
    if empty:
        raise typer.Exit(65)
    if strict and validated.quality.rows_quarantined:
        err_console.print(f"servqual: error: {validated.quality.rows_quarantined} rows "
                          "quarantined (--strict)")
        raise typer.Exit(65)


def _say(message: str) -> None:
    err_console.print(f"servqual: {message}", markup=False, soft_wrap=True)


@app.command()
@handle_errors
def ingest(
    files: FilesArgument,
    instrument: InstrumentOption = DEFAULT_INSTRUMENT,
    store: StoreOption = DEFAULT_STORE,
    wait: WaitOption = DEFAULT_WAIT,
) -> None:
    """Validate survey files and add their waves to the history store.

    A wave already in the store is replaced, in one transaction: it is never counted twice.
    Its rejected rows are kept in the store with it (table quarantine). Files are validated
    and aggregated out of core by DuckDB, so any size fits.
    """
    from .store.history import ingest_files

    paths = inputs_of(files)
    loaded = load_instrument(instrument)
    with progress_bar() as progress:
        done = ingest_files(paths, loaded, store, progress=steps(progress), wait=wait,
                            on_wait=_say)
    print_wave_accounting(done.waves, out_console)
    replaced = set(done.replaced)
    for wave in [w for w in done.waves if w is not None]:
        if done.waves[wave].rows_valid == 0:
            out_console.print(f"wave {bounded(wave)}: no valid rows, not stored "
                              "(its rejected rows are)", markup=False)
            continue
        verb = "replaced" if wave in replaced else "added"
        out_console.print(f"{verb} wave {bounded(wave)}", markup=False)
    out_console.print(f"store: {done.store}", markup=False, soft_wrap=True)


def print_wave_accounting(waves: dict[str | None, DataQuality], console: Console) -> None:
    from .validate import REASONS
    from .waves import sort_waves

    table = Table(title="Row accounting by wave", title_justify="left", show_edge=False)
    for column in ("wave", "read", "valid", "quarantined"):
        table.add_column(column, justify="left" if column == "wave" else "right")
    order = sort_waves([w for w in waves if w is not None]) + ([None] if None in waves else [])
    reasons = dict.fromkeys(REASONS, 0)
    for wave in order:
        q = waves[wave]
        for reason, count in q.quarantine_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
        table.add_row(bounded(wave) if wave is not None else "(no wave label)", f"{q.rows_read:,}",
                      f"{q.rows_valid:,}", f"{q.rows_quarantined:,}")
    console.print(table)
    listed = ", ".join(f"{r} {n:,}" for r, n in reasons.items() if n)
    if listed:
        console.print(f"quarantined (kept in the store with their wave): {listed}",
                      markup=False, soft_wrap=True)


@app.command()
@handle_errors
def trend(
    store: StoreOption = DEFAULT_STORE,
    dimension: Annotated[Optional[str], typer.Option(
        "--dimension", help="A dimension's key or label in any language and case, e.g. "
        "responsiveness or 响应性 (default: every dimension).")] = None,
    item: Annotated[Optional[str], typer.Option(
        "--item", help="An item id in any case, e.g. q05.")] = None,
    segment: Annotated[Optional[str], typer.Option(
        "--segment", help="Only this segment value: COLUMN=VALUE, e.g. region=East (in any "
        "case).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")
                        ] = False,
    wait: WaitOption = DEFAULT_WAIT,
) -> None:
    """Ad-hoc trend check from the history store: gap and perception per wave, direction,
    slope and p-value (as servqual report classifies them)."""
    import json

    from .store.trend import Segment, trend as trend_of

    answer = trend_of(store, dimension=dimension, item=item,
                      segment=Segment.parse(segment) if segment is not None else None,
                      wait=wait)
    if json_out:
        out_console.print_json(json.dumps(answer, ensure_ascii=False)) \
            if out_console.is_terminal else print(json.dumps(answer, ensure_ascii=False,
                                                             indent=2))
        return
    print_trend(answer, out_console)


def _num(x, fmt: str = "+.3f") -> str:
    return "–" if x is None else format(x, fmt)


def _p(x) -> str:
    if x is None:
        return "–"
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def _trend_words(t: dict) -> str:
    if t["direction"] == "insufficient_waves":
        return f"insufficient waves ({t['waves']})"
    return (f"{t['direction']}: slope {_num(t['slope_per_wave'])} per wave "
            f"(95% CI {_num(t['slope_ci95_low'])} to {_num(t['slope_ci95_high'])}), "
            f"p {_p(t['p_value'])}, change {_num(t['change'])} over {t['waves']} waves")


def print_trend(answer: dict, console: Console) -> None:
    where = "whole sample" if answer["segment"] is None else \
        f"{answer['segment']['column']} = {answer['segment']['value']}"
    series = answer["series"]
    if len(series) == 1:
        s = series[0]
        name = s["label"].get("en") or s["id"]
        table = Table(title=f"{s['level']} {s['id']} ({name}), {where}", title_justify="left",
                      show_edge=False)
        for column in ("wave", "n", "gap", "95% CI", "perception", "expectation"):
            table.add_column(column, justify="left" if column == "wave" else "right")
        for row in s["by_wave"]:
            if row["suppressed"]:
                table.add_row(row["wave"], f"{row['n']:,}", "suppressed (small cell)", "", "", "")
                continue
            table.add_row(row["wave"], f"{row['n']:,}", _num(row["gap_mean"]),
                          f"{_num(row['gap_ci95_low'])} to {_num(row['gap_ci95_high'])}",
                          _num(row["perception_mean"], ".3f"),
                          _num(row["expectation_mean"], ".3f"))
        console.print(table)
        console.print(f"gap (perception − expectation): {_trend_words(s['gap_trend'])}",
                      markup=False)
        console.print(f"perception: {_trend_words(s['perception_trend'])}", markup=False)
        return
    table = Table(title=f"Trends by dimension, {where} ({len(answer['waves'])} waves: "
                  f"{answer['waves'][0]} … {answer['waves'][-1]})", title_justify="left",
                  show_edge=False)
    table.add_column("dimension", no_wrap=True)
    table.add_column("gap now", justify="right")
    table.add_column("gap trend (slope/wave, p)", no_wrap=True)
    table.add_column("perception trend", no_wrap=True)

    def cell(t: dict) -> str:
        if t["direction"] == "insufficient_waves":
            return "insufficient waves"
        return f"{t['direction']} {_num(t['slope_per_wave'])}, p {_p(t['p_value'])}"

    for s in series:
        latest = next((r for r in reversed(s["by_wave"]) if r["gap_mean"] is not None), None)
        table.add_row(s["id"], _num(latest["gap_mean"]) if latest else "–",
                      cell(s["gap_trend"]), cell(s["perception_trend"]))
    console.print(table)


@app.command()
@handle_errors
def sample(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the waves into.")] = Path(
        "surveys/sample"),
    respondents: Annotated[int, typer.Option(help="Respondents per wave (about).")] = 1500,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")
                    ] = 20261123,
) -> None:
    """Write the deterministic synthetic sample waves (2024Q4 … 2026Q3)."""
    from .sample import SampleSpec, write_sample

    if respondents < 20:
        raise UsageError("--respondents must be at least 20")
    for path in write_sample(out, SampleSpec(respondents=respondents, seed=seed)):
        out_console.print(str(path), markup=False)


def version_callback(value: bool) -> None:
    if value:
        out_console.print(f"servqual {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=version_callback,
                                          is_eager=True, help="Show the version.")] = False,
) -> None:
    """SERVQUAL service-quality surveys in, management decisions out."""


def main() -> None:
    tune_process()  # a command-line run only: see servqual/tuning.py
    try:
        app(prog_name="servqual")
    finally:
        before_exit()


if __name__ == "__main__":
    sys.exit(main())
