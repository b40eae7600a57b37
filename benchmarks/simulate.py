"""Simulated quarterly SERVQUAL histories with known truth, for judging servqual's decisions.

A history is a folder of wave files (``2024Q4.csv`` … one per quarter; the wave is the file
name) and an instrument written for them: 5 dimensions, 16 items on a 1–5 scale, segment
columns ``region`` (4 values) and ``survey_mode`` (2). Everything that is not planted stays
the same from wave to wave, so any alert or trend direction outside the planted effects is a
false alarm.

The respondent model (per wave, vectorised):

* expectation and perception of dimension d are latent normal scores e_d, p_d of a
  respondent: a general factor shared by all dimensions (loading 0.6) plus a dimension
  factor, and perception correlated with expectation (0.3) — the halo and the
  expectation–perception link SERVQUAL data show (Parasuraman, Zeithaml & Berry 1991;
  Carman 1990);
* item answer = mean + 0.75 · factor + 0.65 · unique noise, rounded to the scale and clipped:
  item SD ≈ 1 and inter-item correlation ≈ 0.55 within a dimension (Cronbach's alpha ≈ 0.8
  for four items, the range the SERVQUAL literature reports);
* regions and survey modes shift perception by fixed amounts (they differ, but do not
  change over time) and are drawn with fixed shares; 2 % of answers are left blank;
* the number of respondents per wave varies around ``respondents`` (± 10 %).

Planted effects (:class:`Effect`) move the latent perception mean of every item of one
dimension: ``slope`` per quarter (a trend) or ``drop`` in the latest wave only. Rounding and
the scale's ends shrink a latent shift slightly; the benchmark reports the observed change.
``wave_sd`` optionally adds real between-wave variation (a per-wave, per-dimension shock of
perception) to check that the trend test does not mistake it for a trend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

WAVES = ("2024Q4", "2025Q1", "2025Q2", "2025Q3", "2025Q4", "2026Q1", "2026Q2", "2026Q3")
DIMENSIONS = {"tangibles": 4, "reliability": 3, "responsiveness": 3, "assurance": 3,
              "empathy": 3}
REGIONS = {"North": 0.3, "South": 0.3, "East": 0.2, "West": 0.2}
REGION_EFFECT = {"North": 0.0, "South": 0.05, "East": -0.05, "West": -0.15}
MODES = {"online": 0.6, "phone": 0.4}
MODE_EFFECT = {"online": -0.08, "phone": 0.08}
EXPECTATION = 4.1  # item means: expectation, and perception per dimension
PERCEPTION = {"tangibles": 3.8, "reliability": 3.5, "responsiveness": 3.4, "assurance": 3.7,
              "empathy": 3.5}
GENERAL, DIMENSION_FACTOR, E_P_LINK = 0.6, 0.8, 0.3
LOADING, UNIQUE = 0.75, 0.65
BLANK_SHARE = 0.02


@dataclass(frozen=True)
class Effect:
    """A planted change of one dimension's perception: ``slope`` scale points per quarter
    (over the whole history, centred on no change at the first wave) or ``drop`` in the
    latest wave alone (negative: worse)."""

    dimension: str
    slope: float = 0.0
    drop: float = 0.0

    def shift(self, wave_index: int, waves: int) -> float:
        return self.slope * wave_index + (self.drop if wave_index == waves - 1 else 0.0)


@dataclass(frozen=True)
class History:
    respondents: int = 220
    waves: int = 8
    effects: tuple[Effect, ...] = field(default_factory=tuple)
    wave_sd: float = 0.0


def items() -> list[tuple[str, str]]:
    """(item id, dimension) in instrument order: q01 …"""
    out, n = [], 0
    for dim, count in DIMENSIONS.items():
        for _ in range(count):
            n += 1
            out.append((f"q{n:02d}", dim))
    return out


def instrument_toml(**analysis) -> str:
    """The instrument of the simulated waves; ``analysis`` keys go to ``[analysis]``."""
    lines = ['[instrument]', 'name = "Simulated SERVQUAL (16 items)"', "scale_min = 1",
             "scale_max = 5", 'respondent_id = "id"', 'segments = ["region", "survey_mode"]',
             "", "[analysis]"]
    lines += [f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"'
              for k, v in analysis.items()]
    for dim in DIMENSIONS:
        lines += ["", f"[dimensions.{dim}]",
                  f'label = {{ en = "{dim.title()}", zh-CN = "{dim.title()}" }}']
    for item, dim in items():
        n = item[1:]
        lines += ["", "[[items]]", f'id = "{item}"', f'dimension = "{dim}"',
                  f'expectation = "E{n}"', f'perception = "P{n}"',
                  f'text = {{ en = "Item {n}", zh-CN = "题目{n}" }}']
    return "\n".join(lines) + "\n"


def _choice(rng: np.random.Generator, shares: dict[str, float], n: int) -> np.ndarray:
    return rng.choice(np.array(list(shares)), size=n, p=np.array(list(shares.values())))


def generate_wave(history: History, wave_index: int, rng: np.random.Generator) -> pd.DataFrame:
    """One wave's respondents (wide: id, region, survey_mode, E01…, P01…)."""
    n = int(round(history.respondents * rng.uniform(0.9, 1.1)))
    dims = list(DIMENSIONS)
    region = _choice(rng, REGIONS, n)
    mode = _choice(rng, MODES, n)
    shift = pd.Series(region).map(REGION_EFFECT).to_numpy() \
        + pd.Series(mode).map(MODE_EFFECT).to_numpy()
    general_e, general_p = rng.standard_normal(n), rng.standard_normal(n)
    link = np.sqrt(1 - E_P_LINK ** 2)
    frame = {"id": [f"w{wave_index}-{i:05d}" for i in range(n)], "region": region,
             "survey_mode": mode}
    answers_e, answers_p = {}, {}
    for dim in dims:
        e = GENERAL * general_e + DIMENSION_FACTOR * rng.standard_normal(n)
        p = E_P_LINK * e + link * (GENERAL * general_p + DIMENSION_FACTOR * rng.standard_normal(n))
        planted = sum(eff.shift(wave_index, history.waves) for eff in history.effects
                      if eff.dimension == dim)
        shock = history.wave_sd * rng.standard_normal() if history.wave_sd else 0.0
        for item, item_dim in items():
            if item_dim != dim:
                continue
            answers_e[item] = EXPECTATION + LOADING * e + UNIQUE * rng.standard_normal(n)
            answers_p[item] = (PERCEPTION[dim] + planted + shock + shift + LOADING * p
                               + UNIQUE * rng.standard_normal(n))
    for prefix, answers in (("E", answers_e), ("P", answers_p)):
        for item, latent in answers.items():
            values = np.clip(np.rint(latent), 1, 5)
            blank = rng.random(n) < BLANK_SHARE
            column = pd.array(values.astype(int), dtype="Int64")
            column[blank] = pd.NA
            frame[f"{prefix}{item[1:]}"] = column
    return pd.DataFrame(frame)


def write_history(folder: Path, history: History, seed: int, **analysis) -> tuple[Path,
                                                                                   list[Path]]:
    """Write the instrument and the waves of one history; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    instrument = folder / "instrument.toml"
    instrument.write_text(instrument_toml(**analysis), encoding="utf-8")
    paths = []
    for w in range(history.waves):
        rng = np.random.default_rng([seed, w])
        path = folder / f"{WAVES[w]}.csv"
        generate_wave(history, w, rng).to_csv(path, index=False)
        paths.append(path)
    return instrument, paths
