"""One wave of 10,000,000 respondents (``make bench BENCH=bigwave``; not part of the default
run: generating the 1.5 GB file alone takes minutes).

The wave is generated in chunks of a million respondents (so generating it needs no more
memory than that), with ids unique across chunks and each chunk's planted faulty rows.
``servqual report`` then reads it as it chooses (the memory engine, in spans of records:
servqual/ingest/spans.py), and with ``--engine duckdb`` (streamed, the rows staged on disk);
the table shows their time and peak RSS next to pyarrow's bare read.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .bench_scale import NUMERIC_COLUMNS, run_command, servqual
from .common import DATA, INSTRUMENT, Table, pyarrow_read_seconds

CHUNK = 1_000_000


def big_wave(respondents: int, seed: int = 20261123) -> Path:
    """A generated single-wave CSV of about ``respondents`` rows (cached on disk)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from servqual.sample import WAVES, SampleSpec, faulty_rows, generate_wave

    path = DATA / f"bigwave-n{respondents}-s{seed}" / f"{WAVES[-1]}.csv"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        for k in range(max(respondents // CHUNK, 1)):
            frame = generate_wave(SampleSpec(respondents=min(CHUNK, respondents),
                                             seed=seed + k), len(WAVES) - 1)
            frame["respondent_id"] = [f"{WAVES[-1]}-{k:03d}{i:07d}"
                                      for i in range(1, len(frame) + 1)]
            extra = faulty_rows(frame, np.random.default_rng([seed, k, 1]))
            buffer = io.BytesIO()
            pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), buffer,
                            pacsv.WriteOptions(include_header=k == 0, quoting_style="none"))
            out.write(buffer.getvalue())
            out.write(extra.to_csv(index=False, header=False, lineterminator="\n")
                      .encode("utf-8"))
    tmp.rename(path)
    return path


def run(respondents: int) -> Table:
    respondents = max(respondents, 10_000_000) if respondents == 1_000_000 else respondents
    path = big_wave(respondents)
    bare = pyarrow_read_seconds(path, repeat=1)
    out = path.parent / "out"
    numeric_mb = respondents * NUMERIC_COLUMNS * 8 / 1e6
    t = Table(f"One wave of {respondents:,} respondents "
              f"({path.stat().st_size / 1e9:.2f} GB of CSV)")
    t.add("pyarrow bare read", f"{bare:.1f} s", "1.00x")
    for label, options in (("memory engine, in spans", []), ("DuckDB, streamed",
                                                             ["--engine", "duckdb"])):
        result = run_command(servqual("report", path, "--instrument", INSTRUMENT, *options,
                                      "--out", out / "report.html",
                                      "--json", out / "results.json"))
        t.add(f"servqual report ({label})", f"{result['seconds']:.1f} s",
              f"{result['seconds'] / bare:.2f}x the bare read")
        t.add("  peak RSS", f"{result['peak_rss_mb']:,.0f} MB",
              f"{result['peak_rss_mb'] / numeric_mb:.2f}x the numeric data "
              f"({numeric_mb:,.0f} MB)")
    t.add("report size", f"{(out / 'report.html').stat().st_size / 1e6:.2f} MB")
    return t
