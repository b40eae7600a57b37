"""False alarms under control: the Benjamini–Hochberg step-up and its two-level form.

A report shows many decisions at once — a wave-over-wave alert or a trend direction for every
dimension, item and segment cell — and at 5 % per test about one in twenty quiet series would
raise a false alarm, in nearly every quarter. The decisions a report shows are therefore made
as families:

* **Benjamini–Hochberg** (BH; Benjamini & Hochberg 1995, JRSS-B 57:289–300): with ``m``
  p-values sorted ascending, reject the ``k`` smallest where ``k`` is the largest index with
  ``p(k) ≤ k q / m``; the adjusted p-value is ``p̃(i) = min_{j ≥ i} min(1, m p(j) / j)`` and a
  hypothesis is rejected exactly when ``p̃ ≤ q``. It controls the false discovery rate at
  ``q`` for independent or positively dependent tests (Benjamini & Yekutieli 2001), and when
  nothing changed at all (the complete null) the probability of any rejection — the
  family-wise error — is at most ``q`` as well.
* **Two levels** (Benjamini & Bogomolov 2014, "Selective inference on multiple families of
  hypotheses", JRSS-B 76:297–318; the two-level case of the tree procedures of Bogomolov,
  Peterson, Heller & Benjamini 2021, Biometrika 108:575–590): every dimension heads a family —
  its own test, its items' and its segment cells'. A family's p-value is the Simes
  combination of its members (``min_i m_f p(i) / i``, valid for positively dependent tests),
  and BH at ``q`` over the ``m`` families selects ``R`` of them. Within each selected family,
  BH at the reduced level ``q R / m``. Items and segment cells are thus examined under their
  dimension: one of them can raise an alarm only when its dimension's family as a whole shows
  a change, and at a level that pays for the selection. This keeps the expected average false
  discovery proportion over the selected families at ``q``; under the complete null the
  probability of any alarm in the whole report is at most ``q`` (the first stage's FWER).

The adjusted p-value of a member is ``max(family p̃, min(1, within-family p̃ · m / R))``
with the family p̃ from the first stage: it is ``≤ q`` exactly when the procedure at ``q``
rejects the member. (``R`` is fixed by the selection at ``q``, so it is a decision level,
not a p-value in its own right: it is reported as ``p_adjusted`` beside the raw ``p_value``.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def bh_adjust(p) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values of one family (NaN stays NaN and is not counted).

    ``p̃(i) = min_{j ≥ i} min(1, m p(j) / j)`` over the ``m`` finite p-values sorted
    ascending; BH at level ``q`` rejects exactly the hypotheses with ``p̃ ≤ q``.
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return out
    values = p[ok]
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    adjusted = np.minimum.accumulate(
        np.minimum(1.0, m * ranked / np.arange(1, m + 1))[::-1])[::-1]
    back = np.empty(m)
    back[order] = adjusted
    out[ok] = back
    return out


def simes(p) -> float:
    """Simes' combined p-value of a family: ``min_i m p(i) / i`` (NaN if none is finite)."""
    adjusted = bh_adjust(p)
    return float(np.nanmin(adjusted)) if np.isfinite(adjusted).any() else float("nan")


@dataclass(frozen=True)
class TwoLevel:
    """The two-level procedure's outcome, aligned with the input p-values.

    ``p_adjusted`` (≤ q: rejected), ``family_p_adjusted`` (the member's family, BH-adjusted
    across families), ``family_selected`` (the family passed the first stage at ``q``), and
    the numbers of families tested (``families``) and selected (``selected``).
    """

    p_adjusted: np.ndarray
    family_p_adjusted: np.ndarray
    family_selected: np.ndarray
    families: int
    selected: int


def two_level_bh(p, family, q: float) -> TwoLevel:
    """Benjamini–Bogomolov selective inference on families (see the module docstring).

    Parameters
    ----------
    p
        Raw p-values (NaN: not tested; it takes no part and gets NaN back).
    family
        The family of each p-value (e.g. its dimension), any hashable labels.
    q
        The level: at most this false discovery rate over the selected families, and at
        most this probability of any rejection when every hypothesis is true.
    """
    p = np.asarray(p, dtype=float)
    codes, labels = pd.factorize(pd.Series(list(family), dtype=object), sort=False)
    n_families = len(labels)
    within = np.full(p.shape, np.nan)
    family_p = np.full(n_families, np.nan)
    for f in range(n_families):
        members = codes == f
        within[members] = bh_adjust(p[members])
        if np.isfinite(within[members]).any():
            family_p[f] = np.nanmin(within[members])
    family_adjusted = bh_adjust(family_p)
    tested = int(np.isfinite(family_p).sum())
    selected_family = np.isfinite(family_adjusted) & (family_adjusted <= q)
    selected = int(selected_family.sum())
    scale = tested / max(selected, 1)
    member_family = np.where(codes >= 0, family_adjusted[np.maximum(codes, 0)], np.nan)
    with np.errstate(invalid="ignore"):
        adjusted = np.maximum(member_family, np.minimum(1.0, within * scale))
    adjusted[~np.isfinite(p)] = np.nan
    return TwoLevel(p_adjusted=adjusted, family_p_adjusted=member_family,
                    family_selected=np.where(codes >= 0, selected_family[np.maximum(codes, 0)],
                                             False),
                    families=tested, selected=selected)
