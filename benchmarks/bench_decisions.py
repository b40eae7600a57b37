"""False alarms and power of the decisions a report shows, on simulated histories.

Target (issue: decisions a manager can trust): over histories of 8 quarterly waves of about
220 respondents (:mod:`.simulate`: 5 dimensions, 16 items, region × survey mode), run through
servqual's own :func:`servqual.run.run` with fixed seeds,

* at most 10 % of the null histories (nothing changes) raise any wave-over-wave alert or any
  dimension or item trend direction (rising / falling);
* each planted effect is found in at least 90 % of its histories: a decline of 0.07 per
  quarter of one dimension (its gap trend ``falling``), a rise of 0.05 per quarter of another
  (``rising``), and a one-wave drop of 0.35 in the latest wave at n ≈ 200 (an alert on that
  dimension).

Also reported: segment-cell and overall-score directions under the null, false alarms on the
other dimensions of the planted histories, and (``--between-wave``) null histories with real
wave-to-wave variation of SD 0.03 per dimension, where the trend test must fall back on the
series' own scatter.

``python -m benchmarks decisions [--replications N]`` (``make bench BENCH=decisions``).

Measured (50 histories per scenario, ``alarm_fdr`` 0.05, seeds as in :data:`SEEDS`): null
histories with any alert or dimension / item direction 2/50 (4 %; 1 alert, 1 direction; no
segment-cell direction); decline found 50/50, rise 48/50 (96 %), drop 46/50 (92 %); with
between-wave variation of SD 0.03 and no trend, any direction 2/50, any alarm 5/50. In the
planted histories, 6–16 % also showed an alarm on another dimension: one real change makes
Benjamini–Hochberg more lenient for the rest (it controls the false discovery rate, not the
chance of any false alarm, once something did change). 1,332 s for the five scenarios on two
cores shared with other work (about 5 s per history per core).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .common import Table
from .simulate import Effect, History, write_history

DECLINE = Effect("reliability", slope=-0.07)
RISE = Effect("responsiveness", slope=0.05)
DROP = Effect("assurance", drop=-0.35)
JUMP = Effect("assurance", drop=+0.35)  # the mirror of DROP: a significant rise (↑)
SCENARIOS = {"null": History(), "decline": History(effects=(DECLINE,)),
             "rise": History(effects=(RISE,)),
             "drop": History(respondents=200, effects=(DROP,)),
             "jump": History(respondents=200, effects=(JUMP,))}
SEEDS = {"null": 1000, "decline": 2000, "rise": 3000, "drop": 4000, "between_wave": 5000,
         "jump": 6000}


@dataclass
class Decisions:
    """What one report decided: alerts and non-flat trend directions, as (level, key)."""

    alerts: set[tuple[str, str, str]]  # (level, key, dimension)
    rises: set[tuple[str, str, str]]  # the same for the rises the report marks ↑
    dimension_trends: dict[str, str]  # dimension → gap direction (rising / falling)
    perception_trends: dict[str, str]
    item_trends: dict[str, str]
    segment_trends: dict[tuple[str, str, str], str]
    overall_trends: dict[str, str]
    observed_slope: dict[str, float]  # dimension → gap slope per wave
    observed_change: dict[str, float]  # dimension → latest wave − previous (gap)

    @property
    def any_alarm(self) -> bool:
        """Any alert, or any dimension or item trend direction (the issue's null criterion)."""
        return bool(self.alerts or self.rises or self.dimension_trends or self.perception_trends
                    or self.item_trends)

    @property
    def anything(self) -> bool:
        return self.any_alarm or bool(self.segment_trends or self.overall_trends)


def moving(frame, key) -> dict:
    rows = frame[frame["direction"].isin(["rising", "falling"])]
    return dict(zip(rows[key].astype(str), rows["direction"])) if len(rows) else {}


def decisions_of(results) -> Decisions:
    """The alarms of one run's results (:class:`servqual.results.Results`)."""
    trends = results.findings.trends
    wow = trends.wave_over_wave

    def keys_of(rows) -> set[tuple[str, str, str]]:
        keys = set()
        for row in rows.itertuples(index=False):
            level = row.level
            ident = {"dimension": row.dimension, "item": getattr(row, "item", None),
                     "segment": f"{getattr(row, 'column', '')}={getattr(row, 'value', '')}"
                                f"/{row.dimension}"}[level]
            keys.add((level, str(ident), str(row.dimension)))
        return keys

    dims = trends.dimensions
    perception = dims[["dimension", "perception_direction"]].rename(
        columns={"perception_direction": "direction"})
    segments = trends.segments
    seg = {}
    if len(segments):
        moved = segments[segments["direction"].isin(["rising", "falling"])]
        seg = {(str(r.column), str(r.value), str(r.dimension)): r.direction
               for r in moved.itertuples(index=False)}
    dim_wow = wow[wow["level"] == "dimension"].set_index("dimension")["change"]
    return Decisions(
        alerts=keys_of(wow[wow["alert"]]), rises=keys_of(wow[wow["rise"]]),
        dimension_trends=moving(dims, "dimension"),
        perception_trends=moving(perception, "dimension"),
        item_trends=moving(trends.items, "item"), segment_trends=seg,
        overall_trends=moving(trends.overall, "score") if len(trends.overall) else {},
        observed_slope=dict(zip(dims["dimension"], dims["slope_per_wave"].astype(float))),
        observed_change={str(k): float(v) for k, v in dim_wow.items()})


def simulate(history: History, seed: int, folder: Path, **analysis) -> Decisions:
    """Write one history under ``folder``, run servqual on it, and return its decisions."""
    from servqual.instrument import load_instrument
    from servqual.run import Request, run

    instrument, paths = write_history(folder, history, seed, **analysis)
    outcome = run(Request(instrument=load_instrument(instrument), files=paths))
    return decisions_of(outcome.results)


def _one(args) -> Decisions:
    history, seed, folder, analysis = args
    return simulate(history, seed, folder, **analysis)


def replicate(name: str, history: History, replications: int, jobs: int = 2,
              **analysis) -> list[Decisions]:
    """``replications`` histories of a scenario (seeds fixed per scenario), ``jobs`` at a
    time in worker processes."""
    with tempfile.TemporaryDirectory(prefix=f"servqual-{name}-") as tmp:
        tasks = [(history, SEEDS.get(name, 9000) + r, Path(tmp) / f"h{r}", analysis)
                 for r in range(replications)]
        if jobs <= 1:
            return [_one(t) for t in tasks]
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            return pool.map(_one, tasks, chunksize=1)


def share(flags) -> str:
    flags = list(flags)
    k, n = sum(bool(f) for f in flags), len(flags)
    low, high = wilson(k, n)
    return f"{k}/{n} = {k / n:.0%}  (95% CI {low:.0%}-{high:.0%})"


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion k / n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def measure(replications: int, between_wave: bool = False, jobs: int = 2
            ) -> dict[str, list[Decisions]]:
    runs = {name: replicate(name, history, replications, jobs)
            for name, history in SCENARIOS.items()}
    if between_wave:
        runs["between_wave"] = replicate("between_wave", History(wave_sd=0.03), replications,
                                         jobs)
    return runs


def run(respondents: int = 0, replications: int = 50, between_wave: bool = False,
        jobs: int = 2) -> Table:
    """The benchmark table (``respondents`` is the other benchmarks' option; unused)."""
    start = time.perf_counter()
    runs = measure(replications, between_wave, jobs)
    seconds = time.perf_counter() - start
    null = runs["null"]
    table = Table(f"Decisions on simulated histories (8 waves x ~220 respondents, 16 items, "
                  f"{replications} histories per scenario, {seconds:.0f} s)")
    false = [d.any_alarm for d in null]
    table.add("null: any alert or dim/item direction", share(false),
              "target <= 10% " + ("(met)" if np.mean(false) <= 0.10 else "(NOT met)"))
    table.add("null: any alert", share(d.alerts for d in null))
    table.add("null: any rise (↑)", share(d.rises for d in null))
    table.add("null: any dimension/item direction",
              share(d.dimension_trends or d.perception_trends or d.item_trends for d in null))
    table.add("null: any segment-cell direction", share(d.segment_trends for d in null))
    table.add("null: anything (incl. segments, overall)", share(d.anything for d in null))
    for name, effect, found in (
            ("decline", DECLINE, lambda d: d.dimension_trends.get(DECLINE.dimension) == "falling"),
            ("rise", RISE, lambda d: d.dimension_trends.get(RISE.dimension) == "rising"),
            ("drop", DROP, lambda d: ("dimension", DROP.dimension, DROP.dimension) in d.alerts),
            ("jump", JUMP, lambda d: ("dimension", JUMP.dimension, JUMP.dimension) in d.rises)):
        hits = [found(d) for d in runs[name]]
        observed = (np.mean([d.observed_slope[effect.dimension] for d in runs[name]])
                    if effect.slope else
                    np.mean([d.observed_change[effect.dimension] for d in runs[name]]))
        what = f"slope {effect.slope:+.2f}/quarter" if effect.slope else \
            f"change {effect.drop:+.2f} in the latest wave"
        table.add(f"{name}: {effect.dimension} found", share(hits),
                  f"{what} (observed mean {observed:+.3f}); target >= 90% "
                  + ("(met)" if np.mean(hits) >= 0.90 else "(NOT met)"))
        others = [any(a[2] != effect.dimension for a in d.alerts | d.rises)
                  or bool(set(d.dimension_trends) - {effect.dimension}) for d in runs[name]]
        table.add(f"{name}: alarms on other dimensions", share(others),
                  "alerts, rises or dimension directions elsewhere")
    if "between_wave" in runs:
        bw = runs["between_wave"]
        table.add("null + between-wave SD 0.03: any alarm", share(d.any_alarm for d in bw),
                  "real quarter-to-quarter wobble, no trend")
        table.add("null + between-wave SD 0.03: any direction",
                  share(d.dimension_trends or d.perception_trends or d.item_trends
                        for d in bw))
    return table
