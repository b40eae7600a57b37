"""``python -m benchmarks [NAME ...] [--respondents N]``: run benchmarks, print their tables."""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = ["ingest", "stats", "twowaves", "scale"]
# Also, by name: bigwave (one wave of 10,000,000 respondents) and decisions (false alarms and
# power of alerts and trend directions on simulated histories; minutes, not seconds).
NAMED = ["bigwave", "decisions"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("names", nargs="*", default=BENCHMARKS,
                        help=", ".join(BENCHMARKS + NAMED))
    parser.add_argument("--respondents", type=int, default=1_000_000)
    parser.add_argument("--replications", type=int, default=50,
                        help="decisions: simulated histories per scenario")
    parser.add_argument("--between-wave", action="store_true",
                        help="decisions: also null histories with between-wave variation")
    parser.add_argument("--jobs", type=int, default=2, help="decisions: worker processes")
    args = parser.parse_args()
    for name in args.names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        if name == "decisions":
            module.run(replications=args.replications, between_wave=args.between_wave,
                       jobs=args.jobs).print()
        else:
            module.run(args.respondents).print()


if __name__ == "__main__":
    main()
