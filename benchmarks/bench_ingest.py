"""Ingest + validation of one wide CSV against pyarrow's bare read of the same file.

Target (issue: ingest real survey exports): less than 3x the bare read.
"""

from __future__ import annotations

import json
import sys

from .common import INSTRUMENT, Table, peak_rss_mb, pyarrow_read_seconds, run_isolated, timer, wave_file


def measure(respondents: int, repeat: int = 3) -> dict:
    """Time servqual's ingest + validation of the file.

    Runs in a fresh process (``python -m benchmarks.bench_ingest N``) for a clean peak RSS.

    After a warm-up run, the best of ``repeat`` runs is kept, as for the bare read: a busy
    machine slows single runs by up to 2x.
    """
    from servqual.ingest import read_table
    from servqual.instrument import load_instrument
    from servqual.validation import check_table

    def ingest_and_validate(path, instrument):
        return check_table(read_table(path, instrument), instrument)

    path = wave_file(respondents)
    instrument = load_instrument(INSTRUMENT)
    ingest_and_validate(path, instrument)  # warm-up: imports, page cache
    peak = peak_rss_mb()
    best = float("inf")
    for _ in range(repeat):
        times: dict[str, float] = {}
        with timer(times, "ingest_validate"):
            validated = ingest_and_validate(path, instrument)
        best = min(best, times["ingest_validate"])
        q = validated.quality
        del validated
    return {"respondents": respondents, "file_mb": path.stat().st_size / 1e6,
            "seconds": best, "rows_read": q.rows_read,
            "rows_valid": q.rows_valid, "rows_quarantined": q.rows_quarantined,
            "peak_rss_mb": peak}


def run(respondents: int) -> Table:
    path = wave_file(respondents)
    bare = pyarrow_read_seconds(path)  # in this process, which has only imported pyarrow
    m = run_isolated("benchmarks.bench_ingest", str(respondents))
    ratio = m["seconds"] / bare
    table = Table(f"Ingest + validation, {respondents:,} respondents ({m['file_mb']:.0f} MB CSV)")
    table.add("pyarrow bare read", f"{bare:.2f} s", "best of 3, fresh process")
    table.add("servqual ingest + validate", f"{m['seconds']:.2f} s",
              f"{m['rows_read']:,} read = {m['rows_valid']:,} valid + "
              f"{m['rows_quarantined']:,} quarantined; best of 3")
    table.add("ratio", f"{ratio:.2f}x", "target < 3x " + ("(met)" if ratio < 3 else "(NOT met)"))
    table.add("peak RSS", f"{m['peak_rss_mb']:.0f} MB", "after one ingest + validation")
    return table


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]))))
