"""``python -m benchmarks [NAME ...] [--respondents N]``: run benchmarks, print their tables."""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = ["ingest", "stats", "scale"]  # also: bigwave (one wave of 10,000,000 respondents)


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("names", nargs="*", default=BENCHMARKS,
                        help=", ".join(BENCHMARKS + ["bigwave"]))
    parser.add_argument("--respondents", type=int, default=1_000_000)
    args = parser.parse_args()
    for name in args.names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        module.run(args.respondents).print()


if __name__ == "__main__":
    main()
