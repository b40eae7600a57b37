"""Numbers as the strategy texts write them, the same in every language: a signed gap
with a true minus sign, a plain mean, a p-value with its relation."""

from __future__ import annotations

import math


def signed(x: float | None, digits: int = 2) -> str:
    """+0.12 / −0.34 (true minus sign); a dash when not computable."""
    if x is None or not math.isfinite(x):
        return "–"
    if round(x, digits) == 0:
        return f"{0:.{digits}f}"
    return ("+" if x > 0 else "\u2212") + f"{abs(x):.{digits}f}"


def plain(x: float | None, digits: int = 2) -> str:
    """3.25 / −0.10 (true minus sign, never −0.00); a dash when not computable."""
    if x is None or not math.isfinite(x):
        return "–"
    return f"{0.0 if round(x, digits) == 0 else x:.{digits}f}".replace("-", "\u2212")


def pvalue(p: float | None) -> str:
    """With its relation, so texts read "p {p}": "p = 0.023", "p < 0.001"."""
    if p is None or not math.isfinite(p):
        return "= –"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"
