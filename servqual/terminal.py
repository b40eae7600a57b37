"""What the command line shows on the terminal: progress, row accounting, trend answers.

Tables go to standard output; progress goes to standard error, and only on a terminal.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .celltext import bounded
from .models import REASONS, DataQuality
from .waves import sort_waves

err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)


def say(message: str) -> None:
    """A note on standard error (a file left out, a wait for the store)."""
    err_console.print(f"servqual: {message}", markup=False, soft_wrap=True)


def progress_bar() -> Progress:
    """A progress bar on a terminal, silence otherwise."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err_console, transient=True,
                    disable=not err_console.is_terminal)


def steps(progress: Progress):
    """A progress callback (what, done, total) shown as one bar."""
    task = progress.add_task("starting", total=None)

    def update(what: str, done: float, total: float) -> None:
        progress.update(task, description=what, completed=done, total=total)

    return update


def print_accounting(q: DataQuality, console: Console) -> None:
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


def print_wave_accounting(waves: dict[str | None, DataQuality], console: Console) -> None:
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
        if answer.get("method") != "servperf":  # SERVPERF: perceptions only, no gap
            console.print(f"gap (perception − expectation): {_trend_words(s['gap_trend'])}",
                          markup=False)
        console.print(f"perception: {_trend_words(s['perception_trend'])}", markup=False)
        return
    servperf = answer.get("method") == "servperf"
    score = "perception" if servperf else "gap"
    table = Table(title=f"Trends by dimension, {where} ({len(answer['waves'])} waves: "
                  f"{answer['waves'][0]} … {answer['waves'][-1]})", title_justify="left",
                  show_edge=False)
    table.add_column("dimension", no_wrap=True)
    table.add_column(f"{score} now", justify="right")
    table.add_column(f"{score} trend (slope/wave, p)", no_wrap=True)
    if not servperf:
        table.add_column("perception trend", no_wrap=True)

    def cell(t: dict) -> str:
        if t["direction"] == "insufficient_waves":
            return "insufficient waves"
        return f"{t['direction']} {_num(t['slope_per_wave'])}, p {_p(t['p_value'])}"

    for s in series:
        latest = next((r for r in reversed(s["by_wave"]) if r[f"{score}_mean"] is not None),
                      None)
        now = _num(latest[f"{score}_mean"], "+.3f" if score == "gap" else ".3f") \
            if latest else "–"
        trends = [cell(s[f"{score}_trend"])] + ([] if servperf else [cell(s["perception_trend"])])
        table.add_row(s["id"], now, *trends)
    console.print(table)
