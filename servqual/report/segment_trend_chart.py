"""Trend small multiples of one segment column (the benchmark's units: regions, branches):
a builder of :class:`.charts.Charts` kept apart for its size."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .chart_style import CATEGORICAL, COLORS, base_layout, text, to_data


def segment_trend_panels(results: dict, labels: dict[str, str], *, column: str,
                         value_labels: dict[str, str], measure: str, title: str,
                         axis_title: str) -> dict:
    """One panel per value of ``column`` in ``value_labels`` (in its order: the values the
    current wave publishes), each with one line per dimension: its ``measure``
    (``gap_mean`` or ``perception_mean``) over all the waves, from ``segments_by_wave``.

    A wave where the value's cell is not published (too few respondents) is a break in the
    line, never bridged. The dimensions keep one colour in every panel and are named once in
    a shared legend; the panels share their y axis so that units compare at a glance.
    """
    waves = [text(w) for w in results["waves"]]
    cells = {(r["value"], r["dimension"], r["wave"]): r.get(measure)
             for r in results.get("segments_by_wave", []) if r["column"] == column}
    values = list(value_labels)
    dims = [r["dimension"] for r in results["dimensions"]]
    cols = 2 if len(values) <= 4 else 3 if len(values) <= 9 else 4
    rows = max(1, -(-len(values) // cols))
    fig = make_subplots(rows=rows, cols=cols, shared_yaxes="all",
                        subplot_titles=[text(value_labels[v]) for v in values],
                        horizontal_spacing=0.05, vertical_spacing=0.62 / rows)
    is_gap = measure == "gap_mean"
    for n, value in enumerate(values):
        row, col = n // cols + 1, n % cols + 1
        for k, dim in enumerate(dims):
            name = text(labels.get(dim, dim))
            fig.add_trace(go.Scatter(
                x=waves, y=[cells.get((value, dim, w)) for w in results["waves"]],
                mode="lines+markers", name=name, legendgroup=dim, showlegend=n == 0,
                connectgaps=False, line={"color": CATEGORICAL[k % len(CATEGORICAL)],
                                         "width": 2}, marker={"size": 5},
                hovertemplate=f"{text(value_labels[value])} · {name} %{{x}}: "
                              f"%{{y:{'+.2f' if is_gap else '.2f'}}}<extra></extra>"),
                row=row, col=col)
        if is_gap:
            fig.add_hline(y=0, line={"color": COLORS["zero"], "width": 1}, row=row, col=col)
    fig.update_xaxes(type="category", tickangle=-45, tickfont={"size": 10},
                     gridcolor=COLORS["grid"])
    fig.update_yaxes(gridcolor=COLORS["grid"], zeroline=False,
                     tickformat="+.1f" if is_gap else ".1f")
    for r in range(1, rows + 1):
        fig.update_yaxes(title={"text": text(axis_title), "font": {"size": 11}}, row=r, col=1)
    fig.update_annotations(font={"size": 12})
    fig.update_layout(base_layout(title, height=230 * rows + 190,
                                  margin={"l": 64, "r": 20, "t": 70, "b": 120}),
                      # below the tick labels at any height the page draws it at (print)
                      legend={"orientation": "h", "x": 0, "xref": "container", "y": 8,
                              "yref": "container", "yanchor": "bottom"})
    return to_data(fig)
