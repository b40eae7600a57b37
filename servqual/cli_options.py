"""The command line's options, each defined once with its help text (used by servqual.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from .engines import ENGINES
from .instrument import LANGUAGES

InstrumentOption = Annotated[
    Path, typer.Option("--instrument", "-i", help="Instrument file (TOML) naming the columns.")]
FilesArgument = Annotated[
    list[Path], typer.Argument(help="Survey files: one per wave, or one holding several waves.",
                               show_default=False)]
OptionalFiles = Annotated[
    Optional[list[Path]], typer.Argument(
        help="Survey files: one per wave, or one holding several waves (optional with "
        "--store).", show_default=False)]
StoreOption = Annotated[
    Path, typer.Option("--store", help="The history store (a DuckDB file).")]
WaitOption = Annotated[
    float, typer.Option("--wait", min=0, help="Seconds to wait while another servqual "
                        "process uses the store.")]
EngineOption = Annotated[
    Literal[ENGINES], typer.Option("--engine", help="auto (by input size), memory, duckdb "
                                   "(out of core: bounded memory) or dask (a cluster).")]
WaveOption = Annotated[
    Optional[str], typer.Option("--wave", help="The wave of files without a wave column "
                                "(default: the file's name, 2026Q3.csv → 2026Q3).")]
SchedulerOption = Annotated[
    Optional[str], typer.Option("--scheduler", help="--engine dask: the address of a Dask "
                                "scheduler to join (default: a local cluster).")]
LangOption = Annotated[Literal[LANGUAGES], typer.Option(
    "--lang", help="Language of what is written: en or zh-CN.")]


def _path(*names: str, help: str):
    return Annotated[Optional[Path], typer.Option(*names, help=help)]


def _text(name: str, help: str):
    return Annotated[Optional[str], typer.Option(name, help=help)]


# servqual report
OutOption = Annotated[Path, typer.Option("--out", "-o", help="HTML report to write.")]
JsonOption = _path("--json", help="Also write the results as JSON here.")
TemplateDirOption = _path("--template-dir",
                          help="Directory of templates that override the built-in ones.")
TargetsOption = _path("--targets", help="Service targets (TOML), e.g. surveys/targets.toml.")
ComplaintsOption = _path("--complaints",
                         help="Complaints log (CSV with a category and a date or wave).")
CategoriesOption = _path("--categories", help="Complaint category → dimension map (TOML); "
                         "default: complaint_categories.toml beside the instrument.")
PeersOption = _path("--peers", help="External benchmark of peer gaps (TOML).")
BehaviourOption = _path("--behaviour", help="CRM extract joined to the respondents by id "
                        "(repeat purchases, share of purchases: see [behaviour] in the "
                        "instrument).")
BenchmarkOption = _text("--benchmark", help="Segment column whose units to benchmark "
                        "(overrides the instrument's benchmark_segment; '' for none).")
StrategiesOption = _path("--strategies", help="Strategy texts (TOML) instead of the built-in "
                         "ones.")
SplitByOption = _text("--split-by", help="Also write one report per value of this segment "
                      "column (e.g. region), each against all respondents.")
PdfOption = Annotated[bool, typer.Option(
    "--pdf", help="Also print each report to PDF beside it (needs Chromium).")]
ReportStoreOption = _path("--store", help="Take the history from this store (servqual "
                          "ingest); files given replace their waves in this run.")
OrganisationOption = _text("--organisation", help="The organisation named in the report's "
                           "header (instead of the instrument's [report] organisation).")
ServiceOption = _text("--service", help="The service the survey is about (instead of "
                      "[report] service).")
FieldworkOption = _text("--fieldwork", help="The fieldwork period, e.g. '2026-07-01 – "
                        "2026-08-15' (instead of [report] fieldwork).")


def check_engine_options(engine: str, scheduler: str | None) -> None:
    """--scheduler belongs to the Dask engine."""
    from .errors import UsageError

    if scheduler is not None and engine != "dask":
        raise UsageError("--scheduler joins a Dask cluster: use it with --engine dask")
