"""All statistics of one wave against pyarrow's bare read of the same CSV.

Target (issue: the statistics of SERVQUAL): for 1,000,000 respondents × 22 items, all
statistics except Wilcoxon take less time than pyarrow needs to read the file. Ours include
Wilcoxon anyway: it comes from the gap histograms, which the aggregation builds regardless.
"""

from __future__ import annotations

import json
import sys

from .common import INSTRUMENT, Table, peak_rss_mb, pyarrow_read_seconds, run_isolated, timer, wave_file


def measure(respondents: int) -> dict:
    from servqual.ingest import read_table
    from servqual.instrument import load_instrument
    from servqual.run import compute
    from servqual.stats.aggregate import aggregate
    from servqual.stats.tables import build_tables
    from servqual.validation import check_table

    path = wave_file(respondents)
    instrument = load_instrument(INSTRUMENT)
    validated = check_table(read_table(path, instrument), instrument)
    waves = ["2026Q3"]
    aggregate(validated.responses, instrument)  # warm-up
    times: dict[str, float] = {}
    with timer(times, "aggregate"):
        aggregates = aggregate(validated.responses, instrument)
    # the same without the outcomes: what their key drivers' bootstrap sums cost
    import dataclasses

    plain = dataclasses.replace(instrument, outcomes=(), loyalty_matrix=None)
    aggregate(validated.responses, plain)
    with timer(times, "aggregate_plain"):
        aggregate(validated.responses, plain)
    with timer(times, "tables"):
        build_tables(aggregates, instrument, waves)
    with timer(times, "compute"):
        compute(aggregates, validated.quality, waves, instrument)
    return {"respondents": respondents, "file_mb": path.stat().st_size / 1e6, **times,
            "peak_rss_mb": peak_rss_mb()}


def run(respondents: int) -> Table:
    path = wave_file(respondents)
    bare = pyarrow_read_seconds(path)
    m = run_isolated("benchmarks.bench_stats", str(respondents))
    statistics = m["aggregate"] + m["tables"]
    table = Table(f"Statistics, {respondents:,} respondents x 22 items ({m['file_mb']:.0f} MB CSV)")
    table.add("pyarrow bare read", f"{bare:.2f} s")
    table.add("aggregates (one pass)", f"{m['aggregate']:.2f} s")
    table.add("  of which outcomes", f"{m['aggregate'] - m['aggregate_plain']:.2f} s",
              "NPS, matrix and key drivers (3 outcomes x 2 bases, 200 replicates)")
    table.add("tables from aggregates", f"{m['tables']:.2f} s", "gaps, tests, alpha, segments")
    table.add("all statistics", f"{statistics:.2f} s",
              f"{statistics / bare:.2f}x the bare read; target < 1x "
              + ("(met)" if statistics < bare else "(NOT met)"))
    table.add("compute() in full", f"{m['compute']:.2f} s",
              "statistics + trends + findings + strategies")
    table.add("peak RSS", f"{m['peak_rss_mb']:.0f} MB")
    return table


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]))))
