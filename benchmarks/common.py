"""Shared benchmark helpers: generated data, timing, peak memory, result tables."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench-data"
INSTRUMENT = ROOT / "surveys" / "instrument.toml"


def wave_file(respondents: int, wave_index: int = 7, seed: int = 20261123) -> Path:
    """A generated wide CSV of the sample's shape with ``respondents`` rows (cached on disk)."""
    from servqual.sample import WAVES, SampleSpec, faulty_rows, generate_wave, write_csv

    folder = DATA / f"n{respondents}-s{seed}"
    path = folder / f"{WAVES[wave_index]}.csv"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        spec = SampleSpec(respondents=respondents, seed=seed)
        frame = generate_wave(spec, wave_index)
        tmp = path.with_suffix(".tmp")
        write_csv(frame, tmp, faulty_rows(frame, np.random.default_rng([seed, wave_index, 1])))
        tmp.rename(path)
    return path


def pyarrow_read_seconds(path: Path, repeat: int = 3) -> float:
    """The best of ``repeat`` bare pyarrow CSV reads of the file (the yardstick)."""
    import pyarrow.csv as pacsv

    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        pacsv.read_csv(path)
        best = min(best, time.perf_counter() - start)
    return best


@contextmanager
def timer(out: dict, key: str):
    start = time.perf_counter()
    yield
    out[key] = time.perf_counter() - start


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_isolated(module: str, *args: str) -> dict:
    """Run ``python -m module args`` in a fresh process; it prints one JSON object last."""
    from servqual.tuning import _ENVIRONMENT  # what `servqual` sets before the libraries load

    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          cwd=ROOT, env={**_ENVIRONMENT, **os.environ, "PYTHONHASHSEED": "0"})
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@dataclass
class Table:
    title: str
    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, name: str, value: str, note: str = "") -> None:
        self.rows.append((name, value, note))

    def print(self) -> None:
        width = max([len(r[0]) for r in self.rows] + [10])
        vwidth = max([len(r[1]) for r in self.rows] + [8])
        print(f"\n{self.title}")
        print("-" * len(self.title))
        for name, value, note in self.rows:
            print(f"  {name:<{width}}  {value:>{vwidth}}  {note}")
