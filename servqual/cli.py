"""Command line (contract §2). Thin: parse, call :func:`servqual.run.run`, write, map errors.

User mistakes (bad data, bad instrument, missing files, unwritable outputs) are
:class:`~servqual.errors.ServqualError` and end with a one-line message and their exit code;
anything else is a bug and keeps its traceback (exit 1). Option values from fixed sets are
checked by the parser, before anything is read: a mistake there is a usage error (exit 2).

The statistics, pandas and the readers are imported inside the commands that use them, so
that ``servqual trend`` answers from the history store in a fraction of a second.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .celltext import bounded
from .cli_options import (BehaviourOption, BenchmarkOption, CategoriesOption,
                          ComplaintsOption, EngineOption, FieldworkOption, FilesArgument,
                          InstrumentOption, JsonOption, LangOption, OptionalFiles,
                          OrganisationOption, OutOption, PdfOption, PeersOption,
                          ReportStoreOption, SchedulerOption, ServiceOption, SplitByOption,
                          StoreOption, StrategiesOption, TargetsOption, TemplateDirOption,
                          WaitOption, WaveOption, check_engine_options)
from .cli_distribute import (DistributeOption, DryRunOption, ResendOption,
                             distribute_command, language_path, languages, load_mailing, send)
from .engines import survey_paths
from .errors import OutputError, ServqualError, UsageError
from .instrument import DEFAULT_INSTRUMENT, load_instrument
from .quarantine import quarantine_path, quarantine_paths
from .store import DEFAULT_STORE, DEFAULT_WAIT
from .terminal import (err_console, out_console, print_accounting, print_trend,
                       print_wave_accounting, progress_bar, say,
                       say_files_adding_nothing, say_outcomes_absent, steps)
from .tuning import before_exit, tune_process

app = typer.Typer(
    name="servqual",
    help="SERVQUAL service-quality surveys in, management decisions out.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


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


def inputs_of(files: list[Path], instrument) -> list[Path]:
    """The survey files among the inputs (see :func:`servqual.engines.survey_paths`); the
    quarantine files left out are named on the terminal."""
    paths, skipped = survey_paths(files, instrument)
    for path in skipped:
        say(f"left out {path}: it holds rejected rows written by servqual (a quarantine "
            "file), not survey responses")
    return paths


@app.command()
@handle_errors
def report(
    files: OptionalFiles = None,
    instrument: InstrumentOption = DEFAULT_INSTRUMENT,
    lang: LangOption = "en",
    out: OutOption = Path("servqual-report.html"),
    json_out: JsonOption = None,
    template_dir: TemplateDirOption = None,
    targets: TargetsOption = None,
    complaints: ComplaintsOption = None,
    categories: CategoriesOption = None,
    peers: PeersOption = None,
    behaviour: BehaviourOption = None,
    benchmark: BenchmarkOption = None,
    strategies: StrategiesOption = None,
    split_by: SplitByOption = None,
    pdf: PdfOption = False,
    store: ReportStoreOption = None,
    engine: EngineOption = "auto",
    scheduler: SchedulerOption = None,
    wait: WaitOption = DEFAULT_WAIT,
    wave: WaveOption = None,
    organisation: OrganisationOption = None,
    service: ServiceOption = None,
    fieldwork: FieldworkOption = None,
    distribute: DistributeOption = None,
    resend: ResendOption = False,
    dry_run: DryRunOption = None,
) -> None:
    """The quarterly run: ingest, validate, compute, and write the HTML report (and JSON).

    Rejected rows are written beside the report as <report>.rejected.csv, with a reason each.
    With --store, the waves stored there are part of the run without reading their files.
    With --distribute, each report is then e-mailed to its recipients (servqual distribute).
    """
    if template_dir is not None and not template_dir.is_dir():
        raise UsageError(f"--template-dir {template_dir} is not a directory")
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out {out} should end in .html")
    if not files and store is None:
        raise UsageError("give survey files, or a history store with --store")
    if split_by is not None and store is not None:
        raise UsageError("--split-by reports each unit from the survey files' respondents; "
                         "it cannot take the history from --store")
    check_engine_options(engine, scheduler)
    if wave is not None and not files:
        raise UsageError("--wave names the wave of the survey files given: give them")
    loaded = load_instrument(instrument, wave_label=wave)
    loaded = replace(loaded, report=loaded.report.merged(
        organisation=organisation, service=service, fieldwork=fieldwork))
    paths = inputs_of(files, loaded) if files else []
    from .behaviour import with_extract
    loaded = with_extract(loaded, behaviour, required=bool(paths))
    from .report import render_html  # plotly and jinja2 load only when a report is written
    from .report.files import unit_paths
    from .report.pdf import find_browser, print_pdf
    from .run import Request, load_inputs, run

    browser = find_browser() if pdf else None  # fail before the analysis, not after it
    mailing = load_mailing(distribute, split_by, dry_run, resend)
    extra = load_inputs(loaded, targets=targets, complaints=complaints, categories=categories,
                        peers=peers, benchmark=benchmark, strategies=strategies)
    with progress_bar() as progress:
        outcome = run(Request(instrument=loaded, files=paths, store=store, engine=engine,
                              scheduler=scheduler, extra=extra, split_by=split_by, wait=wait,
                              progress=steps(progress), on_wait=say))
    results, collected = outcome.results, outcome.collected
    pages, skipped = [], []
    for page_lang in languages(mailing, lang):  # other languages: those recipients read
        page = language_path(out, page_lang, lang)
        pages.append((page, render_html(results, lang=page_lang, template_dir=template_dir),
                      collected.quarantine if page_lang == lang else None))
        if split_by is None:
            continue
        destinations = unit_paths(page, split_by, [u.unit.value for u in outcome.units])
        for unit_run in outcome.units:
            value = unit_run.unit.value
            if unit_run.results is None:
                skipped += [value] if page_lang == lang else []
                continue
            html = render_html(unit_run.results, lang=page_lang, template_dir=template_dir,
                               comparison=results, unit={"column": split_by, "value": value})
            pages.append((destinations[value], html,
                          unit_run.unit.quarantine if page_lang == lang else None))
    from .outputs import OutputSet

    with OutputSet() as outputs:
        for dest, html, rejected in pages:
            outputs.write_text(dest, html)
            if rejected is not None:  # once, beside the report in --lang
                outputs.write_csv(quarantine_path(dest), rejected)
            if browser is not None:
                print_pdf(html, outputs.temp_path(dest.with_suffix(".pdf")), browser)
        if json_out is not None:
            outputs.write_text(json_out, results.dumps())
        written = outputs.destinations
    q = results.quality
    err_console.print(f"{q.rows_read:,} rows read: {q.rows_valid:,} analysed, "
                      f"{q.rows_quarantined:,} quarantined", markup=False)
    say_files_adding_nothing(q.files, "report", quarantine_path(out))
    say_outcomes_absent(q.files, loaded)
    from .behaviour import match_warnings
    from .instrument.labels import segment_value_warnings
    for warning in (match_warnings(results.tables.outcomes, loaded)
                    + segment_value_warnings(loaded, results.tables.dimensions)):
        say(warning)
    for value in skipped:
        err_console.print(f"no report for {split_by} = {bounded(value)}: fewer than "
                          f"{loaded.analysis.min_cell} respondents (min_cell) in "
                          f"{results.current_wave}", markup=False)
    for path in written:
        out_console.print(str(path), markup=False, soft_wrap=True)
    if mailing is not None:
        send([p for p, _, _ in pages], mailing, resend=resend, dry_run=dry_run, pdf=pdf,
             store=store)


@app.command()
@handle_errors
def validate(
    files: FilesArgument,
    instrument: InstrumentOption = DEFAULT_INSTRUMENT,
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out-dir", help="Where to write <file>.rejected.csv (default: beside each input); "
        "inputs of one name are told apart by suffix, then folder.")
    ] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Exit 65 when any row is quarantined.")] = False,
    engine: EngineOption = "auto",
    scheduler: SchedulerOption = None,
    wave: WaveOption = None,
    behaviour: BehaviourOption = None,
) -> None:
    """Ingest and validate only: print the row accounting and write the quarantined rows.

    Each input gets <file>.rejected.csv (its rejected rows with a reason column). Exit 65
    when a file has no valid row (its quarantine file says why), or with --strict when any
    row is quarantined.
    """
    check_engine_options(engine, scheduler)
    loaded = load_instrument(instrument, wave_label=wave)
    paths = inputs_of(files, loaded)
    from .behaviour import with_extract
    loaded = with_extract(loaded, behaviour, required=False)
    from .outputs import OutputSet
    from .run import Request, validate_files
    from .validation.quarantine import quarantine_of

    with progress_bar() as progress:
        collected = validate_files(Request(instrument=loaded, files=paths, engine=engine,
                                           scheduler=scheduler, progress=steps(progress)))
    rejected = {str(p): quarantine_of(collected.quarantine, collected.columns, str(p))
                for p in paths}
    with OutputSet() as outputs:
        for path, dest in zip(paths, quarantine_paths(paths, out_dir)):
            outputs.write_csv(dest, rejected[str(path)])
        written = outputs.destinations
    quality = collected.quality
    print_accounting(quality, out_console)
    say_outcomes_absent(quality.files, loaded)
    for path in written:
        out_console.print(f"quarantine: {path}", markup=False, soft_wrap=True)
    empty = [f for f in quality.files if f["rows_valid"] == 0]
    for f in empty:
        reasons = rejected[f["file"]]["reason"].value_counts()
        why = ", ".join(f"{r} {n:,}" for r, n in reasons.items()) or "it has no data rows"
        err_console.print(f"servqual: error: {f['file']}: no valid row ({why})", markup=False,
                          soft_wrap=True)
    if empty:
        raise typer.Exit(65)
    if strict and quality.rows_quarantined:
        err_console.print(f"servqual: error: {quality.rows_quarantined} rows "
                          "quarantined (--strict)")
        raise typer.Exit(65)


@app.command()
@handle_errors
def ingest(
    files: FilesArgument,
    instrument: InstrumentOption = DEFAULT_INSTRUMENT,
    store: StoreOption = DEFAULT_STORE,
    wait: WaitOption = DEFAULT_WAIT,
    wave: WaveOption = None,
    behaviour: BehaviourOption = None,
) -> None:
    """Validate survey files and add their waves to the history store.

    A wave already in the store is replaced, in one transaction: it is never counted twice.
    Its rejected rows are kept in the store with it (table quarantine). Files are validated
    and aggregated out of core by DuckDB, so any size fits.
    """
    from .store.write import ingest_files

    loaded = load_instrument(instrument, wave_label=wave)
    paths = inputs_of(files, loaded)
    from .behaviour import with_extract
    loaded = with_extract(loaded, behaviour, required=True)
    with progress_bar() as progress:
        done = ingest_files(paths, loaded, store, progress=steps(progress), wait=wait,
                            on_wait=say)
    print_wave_accounting(done.waves, out_console)
    say_files_adding_nothing(done.quality.files, "store")
    say_outcomes_absent([f for q in done.waves.values() for f in q.files], loaded)
    replaced = set(done.replaced)
    for wave in [w for w in done.waves if w is not None]:
        if done.waves[wave].rows_valid == 0:
            out_console.print(f"wave {bounded(wave)}: no valid rows, not stored "
                              "(its rejected rows are)", markup=False)
            continue
        verb = "replaced" if wave in replaced else "added"
        out_console.print(f"{verb} wave {bounded(wave)}", markup=False)
    out_console.print(f"store: {done.store}", markup=False, soft_wrap=True)


@app.command()
@handle_errors
def init(
    files: FilesArgument,
    out: Annotated[Path, typer.Option("--out", "-o", help="The instrument file to write.")
                   ] = Path("instrument.toml"),
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
) -> None:
    """Draft an instrument from survey files and print what was found.

    Encoding, header rows and platform, the id and timestamp columns, segment candidates,
    the expectation/perception pairs, the scale and the answer texts; what cannot be decided
    is left as a TODO comment. Then: servqual report FILE... --instrument OUT.
    """
    if out.exists() and not force:
        raise OutputError("exists: give --force to replace it, or another --out", file=out)
    from .drafting.writing import checked_draft
    from .outputs import OutputSet

    text, found = checked_draft(files, out)
    with OutputSet() as outputs:
        outputs.write_text(out, text)
    for line in found:
        out_console.print(line, markup=False, soft_wrap=True)
    out_console.print(f"instrument: {out}", markup=False, soft_wrap=True)
    out_console.print(f"next: servqual report {' '.join(str(f) for f in files)} "
                      f"--instrument {out}", markup=False, soft_wrap=True)


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
    lang: LangOption = "en",
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
    print_trend(answer, out_console, lang)


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


app.command("distribute")(handle_errors(distribute_command))


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
