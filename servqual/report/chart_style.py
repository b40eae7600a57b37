"""The look of every chart: palette, fonts, layout and axes, and safe chart text.

One palette for the whole report (mirrored in reports/templates/_style.css), one font stack
that covers Chinese, and the layout pieces every figure of :mod:`servqual.report.charts`
starts from. :func:`text` makes user-provided strings safe for Plotly, which reads chart
text as a small subset of HTML. :func:`to_data` turns a figure into the plain JSON data the
page draws.
"""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from markupsafe import escape

# One palette for the whole report (mirrored in reports/templates/_style.css): a shortfall
# (negative gap) is always brick red, a surplus always teal, expectation grey, perception navy.
COLORS = {
    "expectation": "#97a3ae",
    "perception": "#1f4e79",
    "shortfall": "#b8352a",
    "surplus": "#1b7a6e",
    "neutral": "#5d6d7e",
    "zone": "#d9dee3",
    "grid": "#e5e8eb",
    "zero": "#5d6d7e",
    "ink": "#1c2833",
    "muted": "#5d6d7e",
}
# Categorical colours for segment values; none of them is red or teal, so they never read
# as a shortfall or a surplus.
CATEGORICAL = ["#1f4e79", "#d08c2f", "#7a5c99", "#5b9bd5", "#8a6d3b", "#4d5d6c", "#c06c9a",
               "#2f6f8f"]
# The page's and the charts' fonts. Among the Chinese ones, fonts with TrueType outlines come
# before Noto Sans CJK / Source Han Sans (CFF outlines), which Chromium's PDF printer can only
# embed as Type 3 glyphs: their text copies as fragments (radicals for 户, 示 …).
FONT = ('-apple-system, "Segoe UI", "Helvetica Neue", Arial, "Noto Sans", "PingFang SC", '
        '"Hiragino Sans GB", "Microsoft YaHei", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", '
        '"Droid Sans Fallback", "Noto Sans CJK SC", "Source Han Sans SC", sans-serif')
# A diverging scale for gaps: shortfall → white → surplus, centred on zero by the figure.
GAP_SCALE = [[0.0, COLORS["shortfall"]], [0.5, "#f7f7f7"], [1.0, COLORS["surplus"]]]


def text(value: Any) -> str:
    """Text for a chart. Plotly reads chart text as a small subset of HTML, so user-provided
    strings are escaped (Plotly shows the entities as the characters they stand for); text
    that is already markup (a translated label from the template) passes unchanged."""
    return str(escape("" if value is None else value))


def short(value: Any, limit: int = 42) -> str:
    """A label shortened for an axis (the full text stays in the hover and the tables)."""
    s = "" if value is None else str(value)
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def minus(a: Any, b: Any) -> float | None:
    """The length of a whisker or a bar (a presentation offset, not a statistic)."""
    def number(v: Any) -> float | None:
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    a, b = number(a), number(b)
    return None if a is None or b is None else a - b


def sign_color(value: float | None) -> str:
    if value is None:
        return COLORS["neutral"]
    return COLORS["shortfall"] if value < 0 else COLORS["surplus"] if value > 0 else COLORS[
        "neutral"]


def base_layout(title: str, **extra) -> dict:
    layout = {
        "title": {"text": text(title), "x": 0, "xanchor": "left", "y": 0.98, "yanchor": "top",
                  "font": {"size": 15, "color": COLORS["ink"]}},
        "font": {"family": FONT, "size": 12, "color": COLORS["ink"]},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "margin": {"l": 64, "r": 24, "t": 56, "b": 56},
        "legend": {"orientation": "h", "y": -0.16, "x": 0, "yanchor": "top"},
        "height": 380,
        "hoverlabel": {"font": {"family": FONT}},
    }
    layout.update(extra)
    return layout


def axis(title: str, **extra) -> dict:
    out = {"title": {"text": text(title)}, "gridcolor": COLORS["grid"], "zeroline": False,
           "automargin": True}
    out.update(extra)
    return out


def zero_line(**extra) -> dict:
    shape = {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": 0, "y1": 0,
             "line": {"color": COLORS["zero"], "width": 1}}
    shape.update(extra)
    return shape


def to_data(fig: go.Figure) -> dict:
    """The figure as plain JSON data (numpy arrays converted), without the default template."""
    return json.loads(pio.to_json(fig, validate=True, remove_uids=True))

