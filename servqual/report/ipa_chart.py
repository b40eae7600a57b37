"""The importance–performance chart (Martilla & James): a builder of :class:`.charts.Charts`
kept apart for its size."""

from __future__ import annotations

import plotly.graph_objects as go

from .chart_style import COLORS, axis, base_layout, minus as _minus, text, to_data


def importance_performance(labels_of: dict[str, str], *, rows: list[dict], title: str,
                       x_title: str, y_title: str, quadrant_labels: list[str],
                       percent: bool = True, key: str = "dimension") -> dict:
    """Importance–performance analysis (Martilla & James): performance (mean perception)
    across, importance up, per dimension, split into quadrants at the middles the results
    give. ``quadrant_labels``: top-left, top-right, bottom-left, bottom-right. A derived
    importance's interval is drawn as a whisker, and an open marker shows a quadrant the
    interval does not support."""
    xs = [r.get("performance") for r in rows]
    ys = [r.get("importance") for r in rows]
    x_mid = rows[0].get("performance_mid") if rows else None
    y_mid = rows[0].get("importance_mid") if rows else None
    labels = [text(labels_of.get(r[key], r[key])) for r in rows]  # items: their ids

    def span(values: list, mid: float | None, floor: float) -> list[float]:
        known = [v for v in values if v is not None] + ([mid] if mid is not None else [])
        centre = mid if mid is not None else (sum(known) / len(known) if known else 0.0)
        half = max([abs(v - centre) for v in known] + [floor]) * 1.3
        return [centre - half, centre + half]

    ends = [r.get(k) for r in rows for k in ("importance_ci95_low", "importance_ci95_high")]
    x_range, y_range = span(xs, x_mid, 0.2), span(ys + ends, y_mid, 0.02)
    corners = [(x_range[0], y_range[1], "left", "top"), (x_range[1], y_range[1], "right", "top"),
               (x_range[0], y_range[0], "left", "bottom"),
               (x_range[1], y_range[0], "right", "bottom")]
    annotations = [
        {"x": x, "y": y, "xanchor": xa, "yanchor": ya, "text": text(label),
         "showarrow": False, "font": {"size": 11, "color": COLORS["muted"]}}
        for (x, y, xa, ya), label in zip(corners, quadrant_labels)]
    shapes = []
    if x_mid is not None:
        shapes.append({"type": "line", "xref": "x", "x0": x_mid, "x1": x_mid, "yref": "paper",
                       "y0": 0, "y1": 1, "line": {"color": COLORS["zero"], "width": 1,
                                                  "dash": "dot"}})
    if y_mid is not None:
        shapes.append({"type": "line", "yref": "y", "y0": y_mid, "y1": y_mid, "xref": "paper",
                       "x0": 0, "x1": 1, "line": {"color": COLORS["zero"], "width": 1,
                                                  "dash": "dot"}})
    colors = [COLORS["shortfall"] if r.get("quadrant") == "concentrate_here"
              else COLORS["perception"] for r in rows]
    # A derived importance's 95 % interval as a whisker; a quadrant the interval does not
    # support (it spans the cut-off) as an open marker.
    up = [_minus(r.get("importance_ci95_high"), r.get("importance")) for r in rows]
    down = [_minus(r.get("importance"), r.get("importance_ci95_low")) for r in rows]
    whiskers = {"type": "data", "symmetric": False, "array": up, "arrayminus": down,
                "color": COLORS["muted"], "thickness": 1, "width": 3} \
        if any(v is not None for v in up) else None
    symbols = ["circle-open" if r.get("quadrant_supported") is False else "circle"
               for r in rows]
    fig = go.Figure(layout=base_layout(
        title, height=440, showlegend=False,
        xaxis=axis(x_title, range=x_range),
        yaxis=axis(y_title, range=y_range, tickformat=".0%" if percent else None),
        shapes=shapes, annotations=annotations))
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="markers+text", text=labels, textposition="top center",
        error_y=whiskers,
        marker={"size": 13, "color": colors, "symbol": symbols,
                "line": {"color": [c if m == "circle-open" else "white"
                                   for c, m in zip(colors, symbols)],
                         "width": [2 if m == "circle-open" else 1 for m in symbols]}},
        hovertemplate="%{text}: %{x:.2f}, %{y:.3f}<extra></extra>"))
    return to_data(fig)
