"""What the command line shows on the terminal: progress, row accounting, trend answers.

Tables go to standard output; progress goes to standard error, and only on a terminal.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .celltext import bounded
from .models import REASONS, DataQuality
from .textnumbers import plain, signed
from .translations import translations
from .waves import sort_waves

err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)


def say(message: str) -> None:
    """A note on standard error (a file left out, a wait for the store)."""
    err_console.print(f"servqual: {message}", markup=False, soft_wrap=True)


def say_files_adding_nothing(files: list[dict], into: str, rejected=None) -> None:
    """A warning for each file that adds no respondent to the report (or the store): every
    row quarantined (``rejected``: where those rows are written), or no record after its
    header. It would otherwise go unnoticed: a quarter's export that failed, and the
    report's current wave is silently the quarter before."""
    for f in files:
        if not f["rows_read"]:
            say(f"warning: {f['file']}: the file holds no data rows (a header only); it adds "
                f"nothing to the {into}")
        elif not f["rows_valid"] and rejected is not None:
            say(f"warning: {f['file']}: every row was quarantined; it adds nothing to the "
                f"{into} (its rejected rows are in {rejected})")


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


def print_trend(answer: dict, console: Console, lang: str = "en") -> None:
    """The answer of ``servqual trend`` as a table in ``lang``, its numbers written as the
    report writes them (a true minus sign, no −0.00, p < 0.001); the words come from the
    report's translation catalog."""
    _ = translations(lang).gettext
    servperf = answer.get("method") == "servperf"
    segment = answer["segment"]
    where = _("all respondents") if segment is None else _("%(column)s = %(value)s") % {
        "column": bounded(segment.get("column_label", {}).get(lang) or segment["column"]),
        "value": bounded(segment.get("value_label", {}).get(lang) or segment["value"])}
    directions = {"rising": "▲ " + _("rising"), "falling": "▼ " + _("falling"),
                  "flat": "► " + _("flat"), "insufficient_waves": _("too few waves")}

    def p_text(p) -> str:
        return "–" if p is None else ("< 0.001" if p < 0.001 else plain(p, 3))

    def fit(t: dict) -> str:
        words = directions.get(t["direction"], t["direction"])
        if t["direction"] == "insufficient_waves":
            return _("%(direction)s (%(waves)s)") % {"direction": words, "waves": t["waves"]}
        return _("%(direction)s: %(slope)s per wave (95%% CI %(low)s to %(high)s), p %(p)s; "
                 "the fitted change over %(waves)s waves is %(change)s") % {
            "direction": words, "slope": signed(t["slope_per_wave"], 3),
            "low": signed(t["slope_ci95_low"], 3), "high": signed(t["slope_ci95_high"], 3),
            "p": p_text(t["p_value"]), "waves": t["waves"], "change": signed(t["change"])}

    series = answer["series"]
    if len(series) == 1:
        s = series[0]
        level = _("Dimension") if s["level"] == "dimension" else _("Item")
        name = s["label"].get(lang) or s["label"].get("en") or s["id"]
        named = bounded(name) if s["level"] == "dimension" else f"{s['id']} · {bounded(name)}"
        table = Table(title=f"{level} {named} · {where}",
                      title_justify="left", show_edge=False)
        for n, column in enumerate((_("Wave"), _("n"), _("Gap"), _("95% CI"), _("Perception"),
                                    _("Expectation"))):
            table.add_column(column, justify="left" if n == 0 else "right")
        for row in s["by_wave"]:
            if row["suppressed"]:
                table.add_row(row["wave"], f"{row['n']:,}", _("not shown (small cell)"), "", "",
                              "")
                continue
            table.add_row(row["wave"], f"{row['n']:,}", signed(row["gap_mean"]),
                          _("%(low)s to %(high)s") % {"low": signed(row["gap_ci95_low"]),
                                                      "high": signed(row["gap_ci95_high"])},
                          plain(row["perception_mean"]), plain(row["expectation_mean"]))
        console.print(table)
        if not servperf:  # SERVPERF: perceptions only, no gap
            console.print(_("Gap (P − E): %(trend)s") % {"trend": fit(s["gap_trend"])},
                          markup=False)
        console.print(_("Perception: %(trend)s") % {"trend": fit(s["perception_trend"])},
                      markup=False)
        return
    score = "perception" if servperf else "gap"
    waves = answer["waves"]
    table = Table(title=_("Trends by dimension, %(where)s (%(n)s waves: %(first)s … %(last)s)")
                  % {"where": where, "n": len(waves), "first": waves[0], "last": waves[-1]},
                  title_justify="left", show_edge=False)
    table.add_column(_("Dimension"), no_wrap=True)
    table.add_column(_("Perception, latest wave") if servperf else _("Gap, latest wave"),
                     justify="right")
    table.add_column(_("Perception trend") if servperf else _("Gap trend"), no_wrap=True)
    table.add_column(_("Change per wave (p)"), justify="right", no_wrap=True)
    if not servperf:  # the perception's direction beside the gap's (its figures: --dimension)
        table.add_column(_("Perception trend"), no_wrap=True)
    for s in series:
        latest = next((r for r in reversed(s["by_wave"]) if r[f"{score}_mean"] is not None),
                      None)
        now = (plain if servperf else signed)(latest[f"{score}_mean"]) if latest else "–"
        t = s[f"{score}_trend"]
        change = "–" if t["direction"] == "insufficient_waves" else _("%(slope)s (p %(p)s)") % {
            "slope": signed(t["slope_per_wave"], 3), "p": p_text(t["p_value"])}
        cells = [directions.get(t["direction"], t["direction"]), change]
        if not servperf:
            cells.append(directions.get(s["perception_trend"]["direction"], ""))
        table.add_row(bounded(s["label"].get(lang) or s["id"]), now, *cells)
    console.print(table)


def say_outcomes_absent(records: list[dict], instrument) -> None:
    """Warn of each file that lacks an outcome's column (a question added in a later wave):
    its respondents count as not answering that outcome."""
    said = set()
    for f in records:
        for key in f.get("outcomes_absent", []):
            if (f["file"], key) not in said:
                said.add((f["file"], key))
                say(f"warning: {f['file']}: no column {instrument.outcome(key).column!r} "
                    f"([outcomes.{key}]); its respondents count as not answering {key}")
