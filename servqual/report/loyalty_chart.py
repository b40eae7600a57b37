"""The Net Promoter Score by wave: a builder of :class:`.charts.Charts` kept apart for its
size (``loyalty.nps`` of the results, :mod:`servqual.stats.nps`)."""

from __future__ import annotations

import plotly.graph_objects as go

from .chart_style import COLORS, axis, base_layout, text, to_data, zero_line


def nps_by_wave(results: dict, *, title: str, axis_title: str, score: str, interval: str,
                promoters: str, detractors: str) -> dict:
    """The NPS of all respondents in every wave with its 95 % interval (a band), over the
    shares that make it: promoters as a bar above zero, detractors below (the passives are
    the rest)."""
    rows = [r for r in results.get("loyalty", {}).get("nps", []) if r["column"] is None]
    waves = [text(r["wave"]) for r in rows]
    fig = go.Figure(layout=base_layout(
        title, height=380, barmode="relative",
        xaxis=axis("", type="category"),
        yaxis=axis(axis_title, range=[-100, 100], zeroline=False, tickformat="+d"),
        shapes=[zero_line()]))
    # the shares as a diverging bar: detractors below zero, promoters above
    for name, key, sign, colour in ((detractors, "detractors", -1, COLORS["shortfall"]),
                                    (promoters, "promoters", 1, COLORS["surplus"])):
        fig.add_trace(go.Bar(
            x=waves, y=[sign * r[key] for r in rows], name=text(name), opacity=0.35,
            marker={"color": colour}, customdata=[r[key] for r in rows],
            hovertemplate="%{x}: %{customdata:.0f}%<extra>" + text(name) + "</extra>"))
    low = [r["ci95_low"] for r in rows]
    high = [r["ci95_high"] for r in rows]
    fig.add_trace(go.Scatter(x=waves + waves[::-1], y=high + low[::-1], fill="toself",
                             mode="lines", fillcolor="rgba(31,78,121,0.15)", line={"width": 0},
                             name=text(interval), hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=waves, y=[r["nps"] for r in rows], name=text(score), mode="lines+markers",
        line={"color": COLORS["perception"], "width": 2.5}, marker={"size": 7},
        hovertemplate="%{x}: %{y:+.0f}<extra>" + text(score) + "</extra>"))
    return to_data(fig)
