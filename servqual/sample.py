"""Deterministic synthetic SERVQUAL waves with planted effects, for the demo and benchmarks.

What is planted (documented for users in ``surveys/sample/README.md``):

* reliability gap falls steadily, responsiveness gap rises, the other three stay flat, but
  assurance drops in the latest wave (a wave-over-wave alert on a flat trend);
* the ``West`` region's responsiveness is clearly worse than elsewhere, and core customers
  (核心) feel less individual attention (empathy);
* survey-mode effects: face-to-face answers are friendlier, online answers more critical;
* a 100-point importance allocation led by reliability, a few allocations that do not sum
  to 100, a few all-zero ones;
* a sprinkle of missing answers (blank, 99, 0) and a few faulty rows per wave (out of
  scale, non-numeric, duplicate and conflicting respondents, all missing, no id);
* a complaints log whose reliability complaints rise while responsiveness complaints fall;
* likelihood to recommend (0–10, the NPS) driven by reliability and responsiveness, intention
  to buy again (1–5) by assurance and empathy, a few blank and a few off the scale.

Everything is vectorised so the benchmarks can generate millions of respondents quickly.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

WAVES = ("2024Q4", "2025Q1", "2025Q2", "2025Q3", "2025Q4", "2026Q1", "2026Q2", "2026Q3")
DIMENSIONS = ("tangibles", "reliability", "responsiveness", "assurance", "empathy")
ITEMS_PER_DIMENSION = (4, 5, 4, 4, 5)
CLASSES = {"核心": 0.2, "重要": 0.3, "常规": 0.5}
REGIONS = {"East": 0.28, "South": 0.24, "North": 0.2, "West": 0.14, "Central": 0.14}
MODES = {"面谈": 0.15, "留置": 0.10, "电话": 0.30, "网络": 0.35, "邮寄": 0.10}
MODE_EFFECT = {"面谈": 0.15, "留置": 0.05, "电话": 0.0, "网络": -0.15, "邮寄": 0.0}

# Mean expectation per dimension, and the mean gap at the first and the last wave.
EXPECTATION = {"tangibles": 5.3, "reliability": 6.2, "responsiveness": 5.9, "assurance": 6.0,
               "empathy": 5.7}
GAP_START = {"tangibles": 0.10, "reliability": -0.45, "responsiveness": -1.05,
             "assurance": -0.30, "empathy": -0.65}
GAP_END = {"tangibles": 0.10, "reliability": -1.10, "responsiveness": -0.45,
           "assurance": -0.30, "empathy": -0.65}
IMPORTANCE = {"tangibles": 13, "reliability": 31, "responsiveness": 22, "assurance": 19,
              "empathy": 15}
WEST_RESPONSIVENESS = -0.6
CORE_EMPATHY = -0.4
LAST_WAVE_DROP = {"assurance": -0.25}  # only in the latest wave

# Complaints per 1,000 respondents at the first and the last wave, and their categories.
COMPLAINT_RATE_START = {"tangibles": 4.0, "reliability": 8.0, "responsiveness": 16.0,
                        "assurance": 5.0, "empathy": 9.0}
COMPLAINT_RATE_END = {"tangibles": 4.0, "reliability": 22.0, "responsiveness": 6.0,
                      "assurance": 5.0, "empathy": 9.0}
COMPLAINT_CATEGORIES = {
    "tangibles": ["营业场所环境差", "宣传资料不清楚"],
    "reliability": ["送货延误", "订单差错", "结算错误"],
    "responsiveness": ["电话无人接听", "问题处理慢"],
    "assurance": ["服务态度差", "业务不熟悉"],
    "empathy": ["不了解客户需求", "营业时间不方便"],
}


# The planted key drivers: each outcome moves with these dimensions' perceptions (weights of
# their deviation from 5), and the outcome's centre, spread, noise and scale.
DRIVERS = {"recommend": {"reliability": 0.6, "responsiveness": 0.4},
           "repurchase": {"assurance": 0.5, "empathy": 0.5}}
OUTCOME_SCALES = {"recommend": (7.6, 1.6, 1.3, 0, 10), "repurchase": (3.6, 0.6, 0.7, 1, 5)}


@dataclass(frozen=True)
class SampleSpec:
    respondents: int = 1500
    seed: int = 20261123
    waves: tuple[str, ...] = WAVES
    faulty_rows: bool = True


def item_dimensions() -> list[str]:
    return [d for d, k in zip(DIMENSIONS, ITEMS_PER_DIMENSION) for _ in range(k)]


def generate_wave(spec: SampleSpec, wave_index: int) -> pd.DataFrame:
    """One wave as a clean numeric frame (missing answers as <NA>), deterministic per wave."""
    rng = np.random.default_rng([spec.seed, wave_index])
    wave = spec.waves[wave_index]
    n = spec.respondents + int(rng.integers(-25, 26)) if spec.respondents >= 200 else spec.respondents
    frac = wave_index / max(len(spec.waves) - 1, 1)

    def pick(options: dict[str, float]) -> np.ndarray:
        keys = np.array(list(options), dtype=object)
        return keys[rng.choice(len(keys), size=n, p=np.array(list(options.values())))]

    classes, regions, modes = pick(CLASSES), pick(REGIONS), pick(MODES)
    dims = item_dimensions()
    k = len(dims)
    # Latent respondent tendencies shared across items give realistic internal consistency.
    person_e = rng.normal(0, 0.6, n)
    person_p = rng.normal(0, 0.75, n)
    mode_shift = pd.Series(modes).map(MODE_EFFECT).to_numpy(dtype=float)
    item_offset = np.random.default_rng([spec.seed, 0xC0FFEE]).normal(0, 0.2, k)  # same every wave
    e_cols, p_cols = {}, {}
    for j, dim in enumerate(dims):
        gap = GAP_START[dim] + (GAP_END[dim] - GAP_START[dim]) * frac
        if wave_index == len(spec.waves) - 1:
            gap += LAST_WAVE_DROP.get(dim, 0.0)
        shift = np.zeros(n)
        if dim == "responsiveness":
            shift += np.where(regions == "West", WEST_RESPONSIVENESS, 0.0)
        if dim == "empathy":
            shift += np.where(classes == "核心", CORE_EMPATHY, 0.0)
        e = EXPECTATION[dim] + item_offset[j] + person_e + rng.normal(0, 0.55, n)
        p = (EXPECTATION[dim] + gap + item_offset[j] + person_p + mode_shift + shift
             + rng.normal(0, 0.85, n))
        e_cols[f"E{j + 1:02d}"] = np.clip(np.rint(e), 1, 7)
        p_cols[f"P{j + 1:02d}"] = np.clip(np.rint(p), 1, 7)
    frame = pd.DataFrame({
        "respondent_id": [f"{wave}-{i:07d}" for i in range(1, n + 1)],
        "customer_class": classes, "region": regions, "survey_mode": modes,
    })
    columns = [*e_cols, *p_cols]
    values = np.column_stack([*e_cols.values(), *p_cols.values()])
    # Missing answers: blanks, 'not applicable' (99) and 'no answer' (0).
    u = rng.random(values.shape)
    values[u < 0.012] = np.nan
    values[(u >= 0.012) & (u < 0.016)] = 99
    values[(u >= 0.016) & (u < 0.018)] = 0
    answers = pd.DataFrame(values, columns=columns).astype("Int64")
    frame = pd.concat([frame, answers], axis=1)

    weights = rng.dirichlet(np.array([IMPORTANCE[d] for d in DIMENSIONS], dtype=float) * 0.6, n)
    points = _round_to_total(weights * 100)
    off = rng.random(n)
    points[off < 0.02] = np.rint(points[off < 0.02] * 1.1)  # does not sum to 100: rescaled
    points[off > 0.995] = 0  # all zero: excluded from weighting
    for d, col in zip(DIMENSIONS, points.T):
        frame[f"W_{d}"] = col.astype(np.int64)
    mean_p = np.nanmean(np.where(np.isin(values[:, k:], [0, 99]), np.nan, values[:, k:]), axis=1)
    overall = np.clip(np.rint(mean_p + rng.normal(0, 0.6, n)), 1, 7)
    frame["overall_satisfaction"] = pd.array(np.nan_to_num(overall, nan=4), dtype="Int64")
    quarter_start = pd.Timestamp(f"{wave[:4]}-{(int(wave[-1]) - 1) * 3 + 1:02d}-01")
    days = rng.integers(0, 85, n)
    frame["interview_date"] = (quarter_start + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d")
    for name, column in loyalty(spec, wave_index, p_cols).items():
        frame[name] = column
    return frame


def loyalty(spec: SampleSpec, wave_index: int, p_cols: dict[str, np.ndarray]
            ) -> dict[str, pd.arrays.IntegerArray]:
    """Likelihood to recommend (0–10) and intention to buy again (1–5) with planted drivers
    (:data:`DRIVERS`: each outcome a weighted sum of standardised dimension perceptions plus
    noise). From a random stream of their own, so the answers above stay as they were."""
    rng = np.random.default_rng([spec.seed, wave_index, 0x10CA1])
    dims = item_dimensions()
    perception = {d: np.mean([p for (name, p), dim in zip(p_cols.items(), dims) if dim == d],
                             axis=0) for d in DIMENSIONS}
    out = {}
    for name, (centre, spread, noise, low, high) in OUTCOME_SCALES.items():
        drive = sum(weight * (perception[d] - 5.0) for d, weight in DRIVERS[name].items())
        score = np.clip(np.rint(centre + spread * drive + rng.normal(0, noise, len(drive))),
                        low, high)
        u = rng.random(len(score))
        score[u < 0.02] = np.nan  # left blank
        if name == "recommend":
            score[u > 0.998] = 11  # off the 0–10 scale: not usable
        out[name] = pd.array(score, dtype="Int64")
    return out


def _round_to_total(points: np.ndarray, total: int = 100) -> np.ndarray:
    """Round each row to integers that still sum to ``total`` (largest remainder)."""
    floor = np.floor(points)
    short = (total - floor.sum(axis=1)).astype(int)
    order = np.argsort(-(points - floor), axis=1)
    ranks = np.argsort(order, axis=1)
    return floor + (ranks < short[:, None])


def faulty_rows(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A handful of rows with the faults analysts meet, as text (appended after the data)."""
    pick = frame.sample(n=7, random_state=int(rng.integers(1 << 31))).astype("string")
    rows = []
    r = pick.iloc[0].copy()
    r["P07"] = "8"  # out of scale
    r["respondent_id"] = r["respondent_id"] + "-x1"
    rows.append(r)
    r = pick.iloc[1].copy()
    r["E12"] = "五"  # non-numeric
    r["respondent_id"] = r["respondent_id"] + "-x2"
    rows.append(r)
    rows.append(pick.iloc[2].copy())  # exact duplicate of an earlier row
    r = pick.iloc[3].copy()
    r["P03"] = "1" if str(r["P03"]) != "1" else "2"  # same id, different answers: conflict
    rows.append(r)
    r = pick.iloc[4].copy()
    for c in frame.columns:
        if c[0] in "EP" and c[1:].isdigit():
            r[c] = pd.NA  # nothing answered
    r["respondent_id"] = r["respondent_id"] + "-x5"
    rows.append(r)
    r = pick.iloc[5].copy()
    r["respondent_id"] = pd.NA  # no id
    rows.append(r)
    r = pick.iloc[6].copy()
    r["E20"] = "77"  # out of scale (a typo for 7)
    r["respondent_id"] = r["respondent_id"] + "-x7"
    rows.append(r)
    return pd.DataFrame(rows, columns=frame.columns)


def write_csv(frame: pd.DataFrame, path: Path, extra: pd.DataFrame | None = None) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(quoting_style="none"))
    data = buffer.getvalue()
    if extra is not None and len(extra):
        data += extra.to_csv(index=False, header=False, lineterminator="\n").encode("utf-8")
    path.write_bytes(data)


def generate_complaints(spec: SampleSpec, respondents: list[int]) -> pd.DataFrame:
    """A complaints log: per wave and dimension a Poisson number of complaints at the planted
    rate per 1,000 respondents, each with a date in the quarter, a category and a region."""
    rng = np.random.default_rng([spec.seed, 0xC0A1])
    rows = []
    for index, (wave, n) in enumerate(zip(spec.waves, respondents)):
        frac = index / max(len(spec.waves) - 1, 1)
        start = pd.Timestamp(f"{wave[:4]}-{(int(wave[-1]) - 1) * 3 + 1:02d}-01")
        for dim in DIMENSIONS:
            rate = COMPLAINT_RATE_START[dim] + (COMPLAINT_RATE_END[dim]
                                                - COMPLAINT_RATE_START[dim]) * frac
            count = int(rng.poisson(rate * n / 1000))
            categories = COMPLAINT_CATEGORIES[dim]
            for _ in range(count):
                rows.append({
                    "date": (start + pd.Timedelta(days=int(rng.integers(0, 90)))).date().isoformat(),
                    "category": categories[int(rng.integers(len(categories)))],
                    "region": list(REGIONS)[int(rng.choice(len(REGIONS), p=list(REGIONS.values())))],
                })
    frame = pd.DataFrame(rows).sort_values("date", kind="stable").reset_index(drop=True)
    frame.insert(0, "complaint_id", [f"C{i:05d}" for i in range(1, len(frame) + 1)])
    return frame


def write_sample(out_dir: str | Path, spec: SampleSpec = SampleSpec()) -> list[Path]:
    """Write one CSV per wave and the complaints log into ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths, sizes = [], []
    for index, wave in enumerate(spec.waves):
        frame = generate_wave(spec, index)
        sizes.append(len(frame))
        extra = faulty_rows(frame, np.random.default_rng([spec.seed, index, 1])) \
            if spec.faulty_rows else None
        path = out / f"{wave}.csv"
        write_csv(frame, path, extra)
        paths.append(path)
    complaints = out / "complaints.csv"
    generate_complaints(spec, sizes).to_csv(complaints, index=False, lineterminator="\n")
    paths.append(complaints)
    return paths
