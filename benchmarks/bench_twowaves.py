"""Two waves of N respondents (default 1,000,000), the goal of issue 15: ``servqual report``
end to end against pyarrow's bare read of the same two files (goal ≤ 2.5×, peak RSS
≤ 1.9 GB).

What does not grow with the data — starting Python and loading the libraries, the
statistics, findings and report built from the small aggregates — is measured too, as the
same command on two waves of 1,000 respondents, so that the table shows the ratio with and
without it. Each figure is the best of three runs in fresh processes, the bare reads made in
the same minutes (the machine is shared: single runs vary by a third).
"""

from __future__ import annotations

from .bench_scale import run_command, servqual
from .common import INSTRUMENT, Table, pyarrow_read_seconds, wave_file

WAVE_INDEXES = (6, 7)  # 2026Q2 and 2026Q3 of the generated sample
RUNS = 3
SMALL = 1_000


def _report(paths, out) -> dict:
    runs = [run_command(servqual("report", *paths, "--instrument", INSTRUMENT,
                                 "--out", out / "report.html", "--json", out / "results.json"))
            for _ in range(RUNS)]
    return min(runs, key=lambda r: r["seconds"])


def run(respondents: int) -> Table:
    paths = [wave_file(respondents, wave_index=i) for i in WAVE_INDEXES]
    small = [wave_file(SMALL, wave_index=i) for i in WAVE_INDEXES]
    out = paths[0].parent / "out-twowaves"
    bare = sum(pyarrow_read_seconds(p) for p in paths)
    full = _report(paths, out)
    fixed = _report(small, out)
    size = sum(p.stat().st_size for p in paths) / 1e6
    t = Table(f"Two waves of {respondents:,} respondents ({size:,.0f} MB of CSV), "
              f"best of {RUNS}")
    t.add("pyarrow bare read of both", f"{bare:.2f} s", "1.00x")
    ratio = full["seconds"] / bare
    t.add("servqual report", f"{full['seconds']:.2f} s",
          f"{ratio:.2f}x the bare read; goal <= 2.5x " + ("(met)" if ratio <= 2.5 else "(NOT met)"))
    t.add("  peak RSS", f"{full['peak_rss_mb']:,.0f} MB",
          "goal <= 1.9 GB " + ("(met)" if full["peak_rss_mb"] <= 1900 else "(NOT met)"))
    t.add(f"the same on 2 x {SMALL:,}", f"{fixed['seconds']:.2f} s",
          "what does not grow with the data: imports, statistics, report")
    t.add("  without it", f"{full['seconds'] - fixed['seconds']:.2f} s",
          f"{(full['seconds'] - fixed['seconds']) / bare:.2f}x the bare read")
    return t
