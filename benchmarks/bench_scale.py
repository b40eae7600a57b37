"""Eight waves of N respondents: each stage of ``servqual report``, the end-to-end run, the
history store and ``servqual trend``, against pyarrow's bare read of the same CSV files.

Targets (issue 7): end-to-end ≤ 3× the bare read; peak RSS ≤ 3× the size of the numeric data
(the files' numeric cells as float64: answers, importance points, overall rating); report size
independent of N (compared with N/10); ``servqual trend`` on the store well under a second.

Every measurement runs in a fresh process, for a clean peak RSS; times are wall-clock seconds,
best of the runs noted. The machine is shared, so figures vary between runs; ratios are taken
against bare reads made in the same run.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from .common import DATA, INSTRUMENT, ROOT, Table, peak_rss_mb, pyarrow_read_seconds, \
    run_isolated, timer, wave_file

WAVES = 8
NUMERIC_COLUMNS = 22 * 2 + 5 + 1  # answers, importance points, overall satisfaction


def wave_files(respondents: int) -> list[Path]:
    return [wave_file(respondents, wave_index=i) for i in range(WAVES)]


def run_command(args: list[str]) -> dict:
    """Run a command in a fresh process; its wall time and peak RSS (MB)."""
    code = ("import json, resource, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "s = time.perf_counter() - t\n"
            "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
            "print(json.dumps({'seconds': s, 'peak_rss_mb': rss, 'rc': p.returncode, "
            "'stderr': p.stderr[-2000:], 'stdout': p.stdout[-2000:]}))\n")
    import subprocess

    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "0"})
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result['stderr']}")
    return result


def servqual(*args: str) -> list[str]:
    return [sys.executable, "-m", "servqual", *map(str, args)]


def stages(respondents: int, engine: str) -> dict:
    """Each stage of a report run, in this process (run it isolated): the engine's collection
    (read, validate, aggregate), the statistics and findings, the rendering."""
    from servqual.tuning import tune_process

    tune_process()  # as the command line does (the environment: see run_isolated)
    from servqual.engines import open_engine
    from servqual.instrument import load_instrument
    from servqual.report import render_html
    from servqual.run import compute

    paths = wave_files(respondents)
    instrument = load_instrument(INSTRUMENT)
    times: dict[str, float] = {}
    with timer(times, "collect"):
        with open_engine(engine, instrument) as reader:
            collected = reader.collect(paths)
    with timer(times, "compute"):
        results = compute(collected.aggregates, collected.quality, collected.waves, instrument)
    with timer(times, "render"):
        html = render_html(results, lang="en")
        text = results.dumps()
    return {**times, "html_bytes": len(html.encode()), "json_bytes": len(text.encode()),
            "peak_rss_mb": peak_rss_mb()}


def end_to_end(paths: list[Path], out: Path, engine: str = "auto") -> dict:
    return run_command(servqual("report", *paths, "--instrument", INSTRUMENT, "--out",
                                out / "report.html", "--json", out / "results.json",
                                "--engine", engine))


def run(respondents: int) -> Table:
    paths = wave_files(respondents)
    tenth = max(respondents // 10, 1000)
    small = wave_files(tenth)
    bare = sum(pyarrow_read_seconds(p) for p in paths)
    csv_mb = sum(p.stat().st_size for p in paths) / 1e6
    rows = respondents * WAVES
    numeric_mb = rows * NUMERIC_COLUMNS * 8 / 1e6
    work = Path(tempfile.mkdtemp(prefix="servqual-bench-", dir=DATA))
    from servqual.engines import choose_engine

    engine = choose_engine(paths)  # what `servqual report` takes for these files
    s = run_isolated("benchmarks.bench_scale", "stages", str(respondents), engine)
    # Best of three, as the bare read: about one run in four on this shared machine spends
    # 2-4 s more in the kernel (system time) handing out fresh memory.
    e2e = min((end_to_end(paths, work) for _ in range(3)), key=lambda r: r["seconds"])
    two = paths[:2]
    bare_two = sum(pyarrow_read_seconds(p) for p in two)
    e2e_two = min((end_to_end(two, work / "two") for _ in range(3)), key=lambda r: r["seconds"])
    other = "duckdb" if engine == "memory" else "memory"
    e2e_other = end_to_end(paths, work / other, other)
    html = (work / "report.html").stat().st_size
    e2e_small = end_to_end(small, work / "small")
    html_small = (work / "small" / "report.html").stat().st_size

    store = DATA / f"store-n{respondents}.duckdb"
    ingest = None
    if not store.exists():
        ingest = run_command(servqual("ingest", *paths, "--instrument", INSTRUMENT,
                                      "--store", store))
    trend = min((run_command(servqual("trend", "--store", store)) for _ in range(3)),
                key=lambda r: r["seconds"])
    segment = min((run_command(servqual("trend", "--store", store, "--dimension",
                                        "responsiveness", "--segment", "region=West",
                                        "--json")) for _ in range(3)),
                  key=lambda r: r["seconds"])
    report_store = run_command(servqual("report", "--store", store, "--instrument", INSTRUMENT,
                                        "--out", work / "store" / "report.html"))

    def ratio(seconds: float) -> str:
        return f"{seconds / bare:.2f}x"

    t = Table(f"servqual report, {WAVES} waves x {respondents:,} respondents "
              f"({csv_mb:,.0f} MB of CSV; load average {os.getloadavg()[0]:.1f})")
    t.add("pyarrow bare read of the 8 files", f"{bare:.2f} s", "1.00x (the yardstick)")
    t.add("engine (auto)", engine, "stages below are this engine's")
    t.add("stage: collect (read, validate, aggregate)", f"{s['collect']:.2f} s",
          ratio(s["collect"]))
    t.add("stage: compute (statistics, trends, findings)", f"{s['compute']:.2f} s",
          ratio(s["compute"]))
    t.add("stage: render (HTML + JSON)", f"{s['render']:.2f} s", ratio(s["render"]))
    two_ratio = e2e_two["seconds"] / bare_two
    t.add("2 waves: pyarrow bare read", f"{bare_two:.2f} s", "the first two files")
    t.add("2 waves: end-to-end (best of 3)", f"{e2e_two['seconds']:.2f} s",
          f"{two_ratio:.2f}x; target <= 2.5x " + ("(met)" if two_ratio <= 2.5 else "(NOT met)"))
    t.add("2 waves: peak RSS", f"{e2e_two['peak_rss_mb']:,.0f} MB", "target <= 1,900 MB " +
          ("(met)" if e2e_two["peak_rss_mb"] <= 1900 else "(NOT met)"))
    met = e2e["seconds"] / bare <= 3
    t.add("end-to-end servqual report (best of 3)", f"{e2e['seconds']:.2f} s",
          f"{ratio(e2e['seconds'])}; target <= 3x " + ("(met)" if met else "(NOT met)"))
    t.add(f"end-to-end, --engine {other}", f"{e2e_other['seconds']:.2f} s",
          f"{ratio(e2e_other['seconds'])}; peak RSS {e2e_other['peak_rss_mb']:,.0f} MB")
    rss_met = e2e["peak_rss_mb"] <= 3 * numeric_mb
    t.add("peak RSS, end-to-end", f"{e2e['peak_rss_mb']:,.0f} MB",
          f"{e2e['peak_rss_mb'] / numeric_mb:.2f}x the numeric data ({numeric_mb:,.0f} MB: "
          f"{rows:,} x {NUMERIC_COLUMNS} float64); target <= 3x "
          + ("(met)" if rss_met else "(NOT met)"))
    t.add("peak RSS, stages run", f"{s['peak_rss_mb']:,.0f} MB")
    t.add(f"report size, {respondents:,}/wave", f"{html / 1e6:.2f} MB",
          f"JSON {s['json_bytes'] / 1e6:.2f} MB")
    t.add(f"report size, {tenth:,}/wave", f"{html_small / 1e6:.2f} MB",
          f"end-to-end {e2e_small['seconds']:.1f} s; size ratio {html / html_small:.3f}")
    if ingest is not None:
        t.add("servqual ingest of the 8 files", f"{ingest['seconds']:.2f} s",
              f"{ratio(ingest['seconds'])}; peak RSS {ingest['peak_rss_mb']:,.0f} MB")
    t.add("store size", f"{store.stat().st_size / 1e6:,.0f} MB")
    t.add("servqual trend (all dimensions)", f"{trend['seconds']:.2f} s",
          f"whole command, interpreter start included; peak RSS {trend['peak_rss_mb']:.0f} MB")
    t.add("servqual trend --dimension --segment", f"{segment['seconds']:.2f} s")
    t.add("servqual report --store (no CSV read)", f"{report_store['seconds']:.2f} s",
          f"{ratio(report_store['seconds'])}; peak RSS {report_store['peak_rss_mb']:,.0f} MB")
    return t


if __name__ == "__main__":
    if sys.argv[1] == "stages":
        print(json.dumps(stages(int(sys.argv[2]), sys.argv[3])))
