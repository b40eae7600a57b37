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
* **Two levels** — hierarchical gating (Yekutieli 2008, "Hierarchical false discovery
  rate-controlling methodology", JASA 103:309–316) with the selection-adjusted level of
  Benjamini & Bogomolov (2014, "Selective inference on multiple families of hypotheses",
  JRSS-B 76:297–318). The head hypotheses (one per dimension: the dimension's own test; the
  overall scores are heads without members) are tested by BH at ``q``; ``R`` of the ``m``
  heads are rejected. Each dimension's members (its items, its segment cells, its
  perception trend) are examined only when their dimension's head is rejected, by BH within
  the family at the reduced level ``q R / m``. This keeps the expected average false
  discovery proportion over the selected families at ``q`` (Benjamini & Bogomolov,
  theorem 1), and when nothing changed the probability of any alarm in the whole report is
  the first stage's family-wise error, at most ``q``. The heads are tested first and alone
  so that a dimension's own change keeps the power of a five-test BH; an item or a segment
  cell must first move its dimension.

A head's adjusted p-value is its BH-adjusted p-value among the heads; a member's is
``max(head p̃, min(1, within-family p̃ · m / R))``: ``≤ q`` exactly when the procedure at
``q`` rejects it. (``R`` is fixed by the selection at ``q``, so a member's is a decision
level rather than a p-value in its own right: it is reported as ``p_adjusted`` beside the
raw ``p_value``.)
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


@dataclass(frozen=True)
class TwoLevel:
    """The two-level procedure's outcome, aligned with the input p-values.

    ``p_adjusted`` (≤ q: rejected), ``family_p_adjusted`` (the BH-adjusted p-value of the
    family's head), ``family_selected`` (the head was rejected at ``q``), and the numbers of
    heads tested (``families``) and rejected (``selected``).
    """

    p_adjusted: np.ndarray
    family_p_adjusted: np.ndarray
    family_selected: np.ndarray
    families: int
    selected: int


def two_level_bh(p, family, head, q: float) -> TwoLevel:
    """Heads by BH at ``q``, members of selected families by BH at ``q R / m``.

    Parameters
    ----------
    p
        Raw p-values (NaN: not tested; it takes no part and gets NaN back).
    family
        The family of each p-value (e.g. its dimension), any hashable labels.
    head
        True for the head of its family (at most one per family). Members of a family
        without a tested head are never selected.
    q
        The level: at most this false discovery rate over the selected families, and at
        most this probability of any rejection when every hypothesis is true.
    """
    p = np.asarray(p, dtype=float)
    head = np.asarray(head, dtype=bool)
    codes, labels = pd.factorize(pd.Series(list(family), dtype=object), sort=False)
    if np.bincount(codes[head], minlength=len(labels)).max(initial=0) > 1:
        raise ValueError("a family has more than one head")
    head_adjusted = np.where(head, bh_adjust(np.where(head, p, np.nan)), np.nan)
    tested = int(np.isfinite(head_adjusted).sum())
    rejected = np.isfinite(head_adjusted) & (head_adjusted <= q)
    selected = int(rejected.sum())
    family_p = np.full(len(labels), np.nan)
    family_p[codes[head]] = head_adjusted[head]
    member_family = family_p[codes]
    within = np.full(p.shape, np.nan)
    members = ~head
    for f in np.unique(codes[members]):
        idx = members & (codes == f)
        within[idx] = bh_adjust(p[idx])
    scale = tested / max(selected, 1)
    with np.errstate(invalid="ignore"):
        adjusted = np.where(head, head_adjusted,
                            np.maximum(member_family, np.minimum(1.0, within * scale)))
    adjusted[~np.isfinite(p)] = np.nan
    with np.errstate(invalid="ignore"):
        chosen = np.isfinite(member_family) & (member_family <= q)
    return TwoLevel(p_adjusted=adjusted, family_p_adjusted=member_family,
                    family_selected=chosen, families=tested, selected=selected)
