"""The Net Promoter Score by wave: a builder of :class:`.charts.Charts` kept apart for its
size (``loyalty.nps`` of the results, :mod:`servqual.stats.nps`)."""

from __future__ import annotations

import plotly.graph_objects as go

from .chart_style import CATEGORICAL, COLORS, axis, base_layout, text, to_data, zero_line


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


def key_driver_bars(results: dict, labels: dict[str, str], *, outcome_labels: dict[str, str],
                    title: str, axis_title: str, interval: str) -> dict:
    """The key drivers of every outcome (perception basis): per dimension a horizontal bar
    per outcome, its relative weight in % of the outcome's variance, with its 95 % bootstrap
    interval; the dimensions in the instrument's order, top down."""
    dims = [r["dimension"] for r in results["dimensions"]][::-1]
    fig = go.Figure()
    for k, (outcome, name) in enumerate(outcome_labels.items()):
        rows = {r["dimension"]: r for r in results.get("key_drivers", [])
                if r["outcome"] == outcome and r["basis"] == "perception"
                and r["raw_weight"] is not None}
        # in % to 4 decimals: the figures every engine gives alike (their sums, added in
        # another order, may differ in the last bits)
        def percent(d: str, key: str) -> float | None:
            value = rows[d][key] if d in rows else None
            return None if value is None else round(100 * value, 4)

        weight = [percent(d, "raw_weight") for d in dims]
        low = [percent(d, "ci95_low") for d in dims]
        high = [percent(d, "ci95_high") for d in dims]
        fig.add_trace(go.Bar(
            x=weight, y=[text(labels.get(d, d)) for d in dims], orientation="h",
            name=text(name), marker={"color": CATEGORICAL[k % len(CATEGORICAL)]},
            error_x={"type": "data", "symmetric": False, "color": COLORS["ink"],
                     "thickness": 1, "width": 2,
                     "array": [round(h - w, 4) if h is not None and w is not None else 0
                               for h, w in zip(high, weight)],
                     "arrayminus": [round(w - lo, 4) if lo is not None and w is not None
                                    else 0 for lo, w in zip(low, weight)]},
            customdata=list(zip(low, high)),
            hovertemplate=text(name) + " · %{y}: %{x:.1f} (" + text(interval)
                          + " %{customdata[0]:.1f} … %{customdata[1]:.1f})<extra></extra>"))
    fig.update_layout(base_layout(title, height=150 + 22 * len(dims) * max(1, len(outcome_labels)),
                                  barmode="group", bargap=0.25,
                                  xaxis=axis(axis_title, rangemode="tozero"),
                                  yaxis=axis("", automargin=True),
                                  legend={"orientation": "h", "y": -0.18, "x": 0,
                                          "yanchor": "top", "traceorder": "normal"}))
    return to_data(fig)
