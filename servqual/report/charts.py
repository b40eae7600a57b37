"""Charts of the report, built from the results' aggregates only (never raw responses).

Each builder returns a Plotly figure as plain JSON-able data; ``_charts.js`` draws it in the
page with the plotly.js embedded once. Every word on a chart (title, axis titles, legend
names) is passed in by the template, which takes it from the translation catalog, so charts
are translated like the rest of the report. Labels from the instrument and values from the
data are user-provided text and go through :func:`.chart_style.text`, because Plotly reads
chart text as a small subset of HTML.

The builders select and arrange fields of the results; they compute no statistics. Their
palette, fonts and layout come from :mod:`servqual.report.chart_style`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..textnumbers import plain, signed
from .chart_style import (CATEGORICAL, COLORS, GAP_SCALE, axis, base_layout, minus as _minus,
                          short, sign_color, text, to_data, zero_line)
from .ipa_chart import importance_performance
from .loyalty_chart import key_driver_bars, nps_by_wave
from .segment_trend_chart import segment_trend_panels


@dataclass
class Charts:
    """Chart builders bound to one run's results (the JSON record) and one language's labels.

    ``labels`` maps dimension keys to their label, ``item_texts`` item ids to their text, both
    from the instrument in the report's language.
    """

    results: dict
    labels: dict[str, str]
    item_texts: dict[str, str]
    comparison: dict | None = None  # the whole sample, in a unit's report
    scale: tuple[float, float] = (1.0, 7.0)
    measure: str = "gap"  # the score the charts show: "perception" in a SERVPERF analysis
    _dims: list[dict] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._dims = list(self.results["dimensions"])
        self._gap = self.measure == "gap"
        self._mean = f"{self.measure}_mean"
        self._low, self._high = f"{self.measure}_ci95_low", f"{self.measure}_ci95_high"
        self._format = "+.2f" if self._gap else ".2f"

    def _color(self, value) -> str:
        return sign_color(value) if self._gap else COLORS["perception"]

    def _dim_labels(self, rows: list[dict]) -> list[str]:
        return [text(self.labels.get(r["dimension"], r["dimension"])) for r in rows]

    # ----------------------------------------------------------------------------------------
    # Executive summary

    def overall_by_wave(self, *, title: str, axis_title: str, unweighted: str, weighted: str,
                        interval: str) -> dict:
        """Headline: the overall SERVQUAL gap in every wave (weighted score with its CI when
        importance points were collected)."""
        rows = self.results["overall_by_wave"]
        waves = [text(r["wave"]) for r in rows]
        fig = go.Figure(layout=base_layout(
            title, height=340, xaxis=axis("", type="category"),
            yaxis=axis(axis_title, zeroline=False), shapes=[zero_line()] if self._gap else []))
        score = "servqual_weighted" if self._gap else "servperf"  # SERVPERF: the mean perception
        if any(r.get(score) is not None for r in rows):
            low = [r.get(f"{score}_ci95_low") for r in rows]
            high = [r.get(f"{score}_ci95_high") for r in rows]
            fig.add_trace(go.Scatter(x=waves + waves[::-1], y=high + low[::-1], fill="toself", mode="lines",
                                     fillcolor="rgba(31,78,121,0.12)", line={"width": 0},
                                     name=text(interval), hoverinfo="skip"))
            fig.add_trace(go.Scatter(
                x=waves, y=[r.get(score) for r in rows], name=text(weighted),
                mode="lines+markers", line={"color": COLORS["perception"], "width": 2},
                marker={"size": 7},
                hovertemplate="%{x}: %{y:" + self._format + "}<extra>" + text(weighted)
                              + "</extra>"))
        if not self._gap:
            return to_data(fig)
        values = [r.get("servqual_unweighted") for r in rows]
        fig.add_trace(go.Scatter(
            x=waves, y=values, name=text(unweighted), mode="lines+markers",
            line={"color": COLORS["neutral"], "width": 2, "dash": "dot"},
            marker={"size": 8, "color": [sign_color(v) for v in values]},
            hovertemplate="%{x}: %{y:+.2f}<extra>" + text(unweighted) + "</extra>"))
        return to_data(fig)

    # ----------------------------------------------------------------------------------------
    # Dimensions

    def radar(self, *, title: str, expectation: str, perception: str) -> dict:
        """Expectation and perception per dimension on one radar."""
        rows = self._dims
        labels = self._dim_labels(rows)
        closed = labels + labels[:1]

        def loop(key: str) -> list:
            values = [r.get(key) for r in rows]
            return values + values[:1]

        lo, hi = self.scale
        fig = go.Figure(layout=base_layout(
            title, height=420, margin={"l": 70, "r": 70, "t": 60, "b": 60},
            polar={"radialaxis": {"range": [lo, hi], "gridcolor": COLORS["grid"],
                                  "tickfont": {"size": 11, "color": COLORS["ink"]},
                                  "angle": 90 - 180 / max(len(rows), 1), "tickangle": 0},
                   "angularaxis": {"gridcolor": COLORS["grid"], "rotation": 90,
                                   "direction": "clockwise"},
                   "bgcolor": "white"},
            legend={"orientation": "h", "y": -0.08, "x": 0.5, "xanchor": "center"}))
        fig.add_trace(go.Scatterpolar(
            r=loop("expectation_mean"), theta=closed, name=text(expectation),
            line={"color": COLORS["expectation"], "width": 2, "dash": "dash"},
            hovertemplate="%{theta}: %{r:.2f}<extra>" + text(expectation) + "</extra>"))
        fig.add_trace(go.Scatterpolar(
            r=loop("perception_mean"), theta=closed, name=text(perception),
            line={"color": COLORS["perception"], "width": 2.5},
            fill="toself", fillcolor="rgba(31,78,121,0.10)",
            hovertemplate="%{theta}: %{r:.2f}<extra>" + text(perception) + "</extra>"))
        return to_data(fig)

    def gap_bars(self, *, title: str, axis_title: str, whole: str = "", unit: str = "") -> dict:
        """Gap per dimension with its 95 % CI as whiskers; in a unit's report, the whole
        sample beside it."""
        rows = self._dims
        labels = self._dim_labels(rows)
        gaps = [r.get(self._mean) for r in rows]
        fig = go.Figure(layout=base_layout(
            title, height=380, xaxis=axis(""), yaxis=axis(axis_title),
            shapes=[zero_line()] if self._gap else [], barmode="group", bargap=0.35,
            showlegend=self.comparison is not None))
        fig.add_trace(go.Bar(
            x=labels, y=gaps, name=text(unit) if unit else None,
            marker={"color": [self._color(g) for g in gaps]},
            error_y={"type": "data", "symmetric": False,
                     "array": [_minus(r.get(self._high), r.get(self._mean)) for r in rows],
                     "arrayminus": [_minus(r.get(self._mean), r.get(self._low))
                                    for r in rows],
                     "color": COLORS["ink"], "thickness": 1.2, "width": 6},
            hovertemplate="%{x}: %{y:" + self._format + "}<extra></extra>"))
        if self.comparison is not None:
            others = {r["dimension"]: r for r in self.comparison["dimensions"]}
            cmp_rows = [others.get(r["dimension"], {}) for r in rows]
            fig.add_trace(go.Bar(
                x=labels, y=[r.get(self._mean) for r in cmp_rows], name=text(whole),
                marker={"color": "rgba(0,0,0,0)", "line": {"color": COLORS["ink"], "width": 1.5}},
                error_y={"type": "data", "symmetric": False,
                         "array": [_minus(r.get(self._high), r.get(self._mean))
                                   for r in cmp_rows],
                         "arrayminus": [_minus(r.get(self._mean), r.get(self._low))
                                        for r in cmp_rows],
                         "color": COLORS["muted"], "thickness": 1, "width": 4},
                hovertemplate="%{x}: %{y:" + self._format + "}<extra>" + text(whole)
                              + "</extra>"))
        return to_data(fig)

    # ----------------------------------------------------------------------------------------
    # Trends

    def by_wave_panels(self, *, title: str, axis_title: str, measure: str,
                       overall_label: str = "") -> dict:
        """Small multiples: one panel per dimension (and the overall gap), ``measure`` over
        the waves with its 95 % CI as a band where known; for gaps a zero line."""
        dims = [r["dimension"] for r in self._dims]
        rows = self.results["by_wave"]
        is_gap = measure == "gap_mean"
        panels = [(self.labels.get(d, d), [r for r in rows if r["dimension"] == d])
                  for d in dims]
        if is_gap and overall_label:
            panels.append((overall_label, [
                {"wave": r["wave"], "gap_mean": r.get("servqual_unweighted")}
                for r in self.results["overall_by_wave"]]))
        cols = 3
        nrows = max(1, -(-len(panels) // cols))
        fig = make_subplots(rows=nrows, cols=cols, shared_yaxes="all", shared_xaxes=False,
                            subplot_titles=[text(label) for label, _ in panels],
                            horizontal_spacing=0.04, vertical_spacing=0.16)
        for n, (label, cells) in enumerate(panels):
            row, col = n // cols + 1, n % cols + 1
            waves = [text(c["wave"]) for c in cells]
            values = [c.get(measure) for c in cells]
            band = measure.removesuffix("_mean")  # the 95 % CI of the measure, if known
            if any(c.get(f"{band}_ci95_low") is not None for c in cells):
                low = [c.get(f"{band}_ci95_low") for c in cells]
                high = [c.get(f"{band}_ci95_high") for c in cells]
                fig.add_trace(go.Scatter(x=waves + waves[::-1], y=high + low[::-1],
                                         fill="toself", mode="lines",
                                         fillcolor="rgba(31,78,121,0.10)",
                                         line={"width": 0}, hoverinfo="skip", showlegend=False),
                              row=row, col=col)
            fig.add_trace(go.Scatter(
                x=waves, y=values, mode="lines+markers", showlegend=False,
                line={"color": COLORS["perception"], "width": 2},
                marker={"size": 6, "color": [sign_color(v) for v in values] if is_gap
                        else COLORS["perception"]},
                hovertemplate=text(label) + " %{x}: %{y:.2f}<extra></extra>"), row=row, col=col)
            if is_gap:
                fig.add_hline(y=0, line={"color": COLORS["zero"], "width": 1}, row=row, col=col)
        fig.update_xaxes(type="category", tickangle=-45, tickfont={"size": 10},
                         gridcolor=COLORS["grid"])
        fig.update_yaxes(gridcolor=COLORS["grid"], zeroline=False)
        for r in range(1, nrows + 1):
            fig.update_yaxes(title={"text": text(axis_title), "font": {"size": 11}}, row=r,
                             col=1)
        fig.update_annotations(font={"size": 12})
        fig.update_layout(base_layout(title, height=250 * nrows + 80,
                                      margin={"l": 64, "r": 20, "t": 70, "b": 50}))
        return to_data(fig)

    def nps_by_wave(self, **options) -> dict:
        """The Net Promoter Score by wave (:func:`.loyalty_chart.nps_by_wave`)."""
        return nps_by_wave(self.results, **options)

    def key_drivers(self, **options) -> dict:
        """One outcome's key drivers (:func:`.loyalty_chart.key_driver_bars`)."""
        return key_driver_bars(self.results, self.labels, **options)

    def segment_trends(self, **options) -> dict:
        """Small multiples per segment value (:func:`.segment_trend_chart.segment_trend_panels`)."""
        return segment_trend_panels(self.results, self.labels, measure=self._mean, **options)

    # ----------------------------------------------------------------------------------------
    # Weak points

    def importance_performance(self, **options) -> dict:
        """Importance–performance analysis (:func:`.ipa_chart.importance_performance`)."""
        return importance_performance(self.labels, **options)

    # ----------------------------------------------------------------------------------------
    # Items

    def item_heatmap(self, *, title: str, colorbar: str) -> dict:
        """Item gaps (SERVPERF: perceptions) by wave, diverging around zero (the midpoint)."""
        items = [r["item"] for r in self.results["items"]]
        waves = list(self.results["waves"])
        cells = {(r["item"], r["wave"]): r.get(self._mean)
                 for r in self.results["by_wave_items"]}
        z = [[cells.get((i, w)) for w in waves] for i in items]
        limit = max([abs(v) for row in z for v in row if v is not None] + [0.5])
        # SERVPERF: perceptions on the scale, diverging around its midpoint
        low, high, mid = ((-limit, limit, 0) if self._gap
                          else (*self.scale, (self.scale[0] + self.scale[1]) / 2))
        ylabels = [text(f"{i} · {short(self.item_texts.get(i, i), 38)}") for i in items]
        full = [[text(self.item_texts.get(i, i))] * len(waves) for i in items]
        fig = go.Figure(layout=base_layout(
            title, height=max(360, 26 * len(items) + 130),
            margin={"l": 20, "r": 20, "t": 56, "b": 40},
            xaxis=axis("", type="category", side="top", gridcolor="white"),
            yaxis=axis("", autorange="reversed", gridcolor="white", tickfont={"size": 11})))
        fig.add_trace(go.Heatmap(
            z=z, x=[text(w) for w in waves], y=ylabels, zmin=low, zmax=high, zmid=mid,
            colorscale=GAP_SCALE, xgap=2, ygap=2, customdata=full,
            text=[[(signed if self._gap else plain)(v) if v is not None else "" for v in row]
                  for row in z],  # our minus sign and rounding, not the browser's
            texttemplate="%{text}", textfont={"size": 10},
            colorbar={"title": {"text": text(colorbar), "side": "right"}, "thickness": 12,
                      "len": 0.6},
            hovertemplate="%{customdata}<br>%{x}: %{text}<extra></extra>"))
        return to_data(fig)

    # ----------------------------------------------------------------------------------------
    # Segments

    def segment_dots(self, *, column: str, title: str, axis_title: str, whole: str,
                     value_labels: dict | None = None) -> dict:
        """Gap per dimension for each value of one segment column (suppressed cells left
        out; small bases drawn hollow), with the whole sample as a black bar. ``value_labels``
        names coded values (already translated markup, passed through)."""
        value_labels = value_labels or {}
        rows = [r for r in self.results["segments"] if r["column"] == column]
        dims = [r["dimension"] for r in self._dims]
        labels = self._dim_labels(self._dims)
        values: list[str] = []
        for r in rows:
            if r["value"] not in values:
                values.append(r["value"])
        # Each value on its own line within its dimension's band, named beside its dot, so
        # dots of equal gaps do not hide each other.
        step = min(0.16, 0.8 / max(len(values), 1))
        fig = go.Figure(layout=base_layout(
            title, height=max(320, (34 + 15 * len(values)) * len(dims) + 140),
            xaxis=axis(axis_title),
            yaxis=axis("", autorange="reversed", tickvals=list(range(len(dims))),
                       ticktext=labels, zeroline=False),
            legend={"orientation": "h", "y": -0.18, "x": 0, "yanchor": "top"}))
        if self._gap:
            fig.add_vline(x=0, line={"color": COLORS["zero"], "width": 1})
        fig.add_trace(go.Scatter(
            x=[r.get(self._mean) for r in self._dims], y=list(range(len(dims))),
            name=text(whole), mode="markers", customdata=labels,
            marker={"symbol": "line-ns", "size": 8 + 12 * len(values),
                    "line": {"color": COLORS["ink"], "width": 2.5}},
            hovertemplate="%{customdata}: %{x:" + self._format + "}<extra>" + text(whole)
                          + "</extra>"))
        for n, value in enumerate(values):
            by_dim = {r["dimension"]: r for r in rows if r["value"] == value}
            cells = [by_dim.get(d, {}) for d in dims]
            color = CATEGORICAL[n % len(CATEGORICAL)]
            name = text(value_labels.get(value, value))
            fig.add_trace(go.Scatter(
                x=[None if c.get("suppressed") else c.get(self._mean) for c in cells],
                y=[k + (n - (len(values) - 1) / 2) * step for k in range(len(dims))],
                name=name, mode="markers+text", text=[short(name, 16)] * len(dims),
                textposition="middle right", textfont={"size": 9, "color": color},
                customdata=[[c.get("n"), label] for c, label in zip(cells, labels)],
                marker={"size": 10, "color": [("white" if c.get("small_base") else color)
                                              for c in cells],
                        "line": {"color": color, "width": 2}},
                hovertemplate="%{customdata[1]}: %{x:" + self._format
                              + "} (n = %{customdata[0]})<extra>" + name + "</extra>"))
        return to_data(fig)

    # ----------------------------------------------------------------------------------------
    # Zone of tolerance

    def tolerance(self, *, title: str, axis_title: str, zone: str, perception: str,
                  level: str = "item") -> dict:
        """Zone of tolerance (adequate … desired) per item with the perceived level."""
        rows = [r for r in self.results["tolerance"] if r.get("level") == level]
        if level == "item":
            ylabels = [text(f"{r['item']} · {short(self.item_texts.get(r['item'], r['item']), 38)}")
                       for r in rows]
        else:
            ylabels = [text(self.labels.get(r["dimension"], r["dimension"])) for r in rows]
        colors = [COLORS["shortfall"] if (r.get("msa_mean") is not None and r["msa_mean"] < 0)
                  else COLORS["surplus"] if (r.get("mss_mean") is not None and r["mss_mean"] > 0)
                  else COLORS["perception"] for r in rows]
        lo, hi = self.scale
        fig = go.Figure(layout=base_layout(
            title, height=max(320, 26 * len(rows) + 150), barmode="overlay",
            xaxis=axis(axis_title, range=[lo, hi]), yaxis=axis("", autorange="reversed"),
            margin={"l": 20, "r": 24, "t": 56, "b": 56}))
        fig.add_trace(go.Bar(
            y=ylabels, x=[_minus(r.get("desired_mean"), r.get("adequate_mean")) for r in rows],
            base=[r.get("adequate_mean") for r in rows], orientation="h", name=text(zone),
            marker={"color": COLORS["zone"]}, width=0.55,
            customdata=[[r.get("adequate_mean"), r.get("desired_mean")] for r in rows],
            hovertemplate="%{y}: %{customdata[0]:.2f} – %{customdata[1]:.2f}<extra>"
                          + text(zone) + "</extra>"))
        fig.add_trace(go.Scatter(
            y=ylabels, x=[r.get("perceived_mean") for r in rows], mode="markers",
            name=text(perception), marker={"size": 10, "color": colors, "symbol": "diamond",
                                           "line": {"color": "white", "width": 1}},
            hovertemplate="%{y}: %{x:.2f}<extra>" + text(perception) + "</extra>"))
        return to_data(fig)

    # ----------------------------------------------------------------------------------------
    # Complaints

    def complaints(self, *, title: str, axis_title: str, rows: list[dict]) -> dict:
        """Complaints per 1,000 respondents by dimension (rows as the results give them)."""
        labels = [text(self.labels.get(r.get("dimension"), r.get("dimension"))) for r in rows]
        fig = go.Figure(layout=base_layout(
            title, height=max(260, 34 * len(rows) + 130), showlegend=False,
            xaxis=axis(axis_title), yaxis=axis("", autorange="reversed")))
        fig.add_trace(go.Bar(y=labels, x=[r.get("rate_per_1000") for r in rows],
                             orientation="h", marker={"color": COLORS["neutral"]},
                             customdata=[r.get("count") for r in rows],
                             hovertemplate="%{y}: %{x:.1f} (%{customdata})<extra></extra>"))
        return to_data(fig)
