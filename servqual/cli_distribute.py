"""``servqual distribute`` and ``servqual report … --distribute``: the reports to their readers.

Both send servqual's HTML reports as written (:mod:`servqual.distribution`): ``report
--distribute`` the reports it has just written — rendered also in every language the
distribution file asks for — and ``distribute`` those already in a folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .celltext import bounded
from .errors import UsageError
from .terminal import out_console, say

DistributeOption = Annotated[Optional[Path], typer.Option(
    "--distribute", help="Send each report to its recipients (a distribution file, e.g. "
    "surveys/distribution.toml).")]
ResendOption = Annotated[bool, typer.Option(
    "--resend", help="Send again to recipients who already received this report.")]
DryRunOption = Annotated[Optional[Path], typer.Option(
    "--dry-run", help="Write each e-mail as an .eml file into this folder instead of "
    "sending it, and print who would get what.")]


def distribute_command(
    reports: Annotated[list[Path], typer.Argument(
        help="Report files, or folders holding them (servqual report --split-by).")],
    config: Annotated[Path, typer.Option("--config", "-c",
                                         help="The distribution file (TOML).")],
    resend: ResendOption = False,
    dry_run: DryRunOption = None,
    pdf: Annotated[bool, typer.Option(
        "--pdf", help="Also attach each report's PDF (written with servqual report --pdf).")
    ] = False,
    store: Annotated[Optional[Path], typer.Option(
        "--store", help="Keep the delivery log in this history store (default: "
        "servqual-deliveries.csv beside the reports).")] = None,
) -> None:
    """Send reports already written to their recipients, once: each unit's report to the
    recipients of that unit in the distribution file, the overall one to [units.all].

    A rerun sends only what was not yet delivered (the delivery log beside the reports);
    exit 75 when some recipients could not be reached (the others still receive theirs).
    """
    from .distribution import load_distribution

    send(reports, load_distribution(config), resend=resend, dry_run=dry_run, pdf=pdf,
         store=store)


def load_mailing(distribute: Path | None, split_by: str | None, dry_run: Path | None,
                 resend: bool):
    """The distribution file of ``report --distribute``, read before the analysis."""
    if distribute is None:
        if dry_run is not None or resend:
            raise UsageError("--dry-run and --resend go with --distribute")
        return None
    from .distribution import load_distribution

    mailing = load_distribution(distribute)
    units = [u for u in mailing.units if u != "all"]
    if units and split_by is None:
        raise UsageError(f"{distribute} sends units' reports ({', '.join(units[:3])}…): give "
                         "--split-by COLUMN to write them")
    return mailing


def languages(mailing, lang: str) -> list[str]:
    """The report languages to write: --lang, then every other one a unit reads."""
    if mailing is None:
        return [lang]
    return [lang] + sorted({u.lang for u in mailing.units.values()} - {lang})


def language_path(out: Path, lang: str, first: str) -> Path:
    """Where the report in another language than --lang goes: ``<stem>.<lang><suffix>``."""
    return out if lang == first else out.with_name(f"{out.stem}.{lang}{out.suffix}")


def send(paths: list[Path], mailing, *, resend: bool = False, dry_run: Path | None = None,
         pdf: bool = False, store: Path | None = None) -> None:
    """Send the reports among ``paths`` (files or folders), print what happened, and exit 75
    when a recipient did not get theirs."""
    from .distribution import check, distribute, find_reports

    done = distribute(find_reports(paths), mailing, resend=resend, dry_run=dry_run,
                      with_pdf=pdf, store=store,
                      say=lambda text: out_console.print(text, markup=False, soft_wrap=True))
    for unit in done.no_recipients:
        say(f"warning: the report of {bounded(unit)} has no recipients in {mailing.path} "
            f"(add [units.{unit}] with to = [...]): not sent")
    for unit in done.no_report:
        say(f"warning: [units.{unit}] has recipients but there is no report of {unit} (too "
            "few respondents in the latest wave, or not a value of the --split-by column): "
            "nothing sent to them")
    for unit, who in done.sent:
        out_console.print(f"sent {bounded(unit)} → {who}", markup=False, soft_wrap=True)
    for unit, who in done.already:
        out_console.print(f"already delivered {bounded(unit)} → {who} (--resend sends again)",
                          markup=False, soft_wrap=True)
    folders = sorted({str(p if p.is_dir() else p.parent) for p in paths})
    check(done, f"servqual distribute {' '.join(folders)} --config {mailing.path}"
          + (f" --store {store}" if store is not None else ""))
