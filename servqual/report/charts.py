"""Charts of the report, built from aggregates only (never raw responses).

Each builder returns a Plotly figure as plain JSON-able data. Every word on a chart (title,
axis titles, legend names) is passed in by the template, which takes it from the
translation catalog, so charts are translated like the rest of the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import plotly.graph_objects as go
import plotly.io as pio
from markupsafe import escape

# One palette for the whole report (mirrored in reports/templates/_style.css).
COLORS = {
    "expectation": "#8c99a6",
    "perception": "#1f4e79",
    "shortfall": "#c0392b",
    "surplus": "#1e8449",
    "neutral": "#5d6d7e",
    "grid": "#e5e8eb",
}
FONT = ('-apple-system, "Segoe UI", "Helvetica Neue", Arial, "PingFang SC", "Hiragino Sans GB", '
        '"Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", '
        "sans-serif")


def text(value) -> str:
    """Text for a chart. Plotly reads chart text as a small subset of HTML, so user-provided
    strings are escaped (Plotly shows the entities as the characters they stand for); text
    that is already markup (a translated label from the template) passes unchanged."""
    return str(escape(value))


def base_layout(title: str, **extra) -> dict:
    layout = {
        "title": {"text": text(title), "x": 0, "xanchor": "left", "font": {"size": 15}},
        "font": {"family": FONT, "size": 12, "color": "#1c2833"},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "legend": {"orientation": "h", "y": -0.18, "x": 0},
        "height": 360,
    }
    layout.update(extra)
    return layout


def to_data(fig: go.Figure) -> dict:
    """The figure as plain JSON data (numpy arrays converted), without the default template."""
    return json.loads(pio.to_json(fig, validate=True, remove_uids=True))


@dataclass
class Charts:
    """Chart builders bound to one run's results and one language's labels."""

    dimension_labels: list[str]
    dimensions: list[dict]  # rows of Results.dimensions (JSON records), same order

    def expectation_perception(self, *, title: str, axis: str, expectation: str,
                               perception: str, scale_min: float, scale_max: float) -> dict:
        """Grouped bars: mean expectation and mean perception per dimension."""
        expectation, perception, axis = text(expectation), text(perception), text(axis)
        labels = [text(label) for label in self.dimension_labels]
        e = [row["expectation_mean"] for row in self.dimensions]
        p = [row["perception_mean"] for row in self.dimensions]
        fig = go.Figure(
            data=[
                go.Bar(name=expectation, x=labels, y=e,
                       marker_color=COLORS["expectation"],
                       hovertemplate="%{x}: %{y:.2f}<extra>" + expectation + "</extra>"),
                go.Bar(name=perception, x=labels, y=p,
                       marker_color=COLORS["perception"],
                       hovertemplate="%{x}: %{y:.2f}<extra>" + perception + "</extra>"),
            ],
            layout=base_layout(
                title, barmode="group",
                yaxis={"title": {"text": axis}, "range": [scale_min, scale_max],
                       "gridcolor": COLORS["grid"]},
                xaxis={"automargin": True}),
        )
        return to_data(fig)
