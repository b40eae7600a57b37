"""Evidence → recommended strategy, in English and Chinese, from the strategy book.

For a weak point: (a) actions for the dimension; (b) the strategy of the trend direction; (c)
for a missed target, the three causes to check and, when warranted, the suggestion to revise
it; (d) when the shortfall concentrates in a customer class, that class's strategy; (e) the
service-design tool that fits the dimension. Numbers are put in the texts as the evidence
shows them, so a manager can see what the recommendation rests on.
"""

from __future__ import annotations

import math
from typing import Any

from ..findings.evidence import decided_p
from ..instrument import LANGUAGES, VALUE_SEGMENT, Instrument
from ..textnumbers import plain, pvalue, signed
from .book import StrategyBook, Text


def fill(text: Text, **values: Any) -> Text:
    """Each language's text with its placeholders filled (values may differ per language:
    pass a Text for those)."""
    out = {}
    for lang in LANGUAGES:
        own = {k: (v[lang] if isinstance(v, dict) else v) for k, v in values.items()}
        out[lang] = text[lang].format_map(own)
    return out


def point_label(point, book: StrategyBook, instrument: Instrument) -> Text:
    """The words for a weak point: its dimension or item, and for a unit the unit as well
    ("Responsiveness in West" / "West的响应性")."""
    label = subject_label(*point.subject, instrument)
    if point.kind != "unit":
        return label
    return fill(book.units["label"], label=label,
                value=unit_value(book, instrument, point.column, point.value),
                column=instrument.column_text(point.column))


def unit_value(book: StrategyBook, instrument: Instrument, column: str, value) -> Text:
    """A segment value in the texts' words: its [segments] label, a value segment's class
    name, else the value itself."""
    named = book.classes[value]["label"] if column == VALUE_SEGMENT and value in book.classes \
        else {}
    return {lang: instrument.value_label(column, value, lang) or named.get(lang) or str(value)
            for lang in LANGUAGES}


def subject_label(kind: str, ident: str, instrument: Instrument) -> Text:
    """The words for a dimension ("Reliability" / "可靠性") or an item (its statement)."""
    if kind == "dimension":
        dim = instrument.dimension(ident)
        return {lang: dim.label_for(lang) for lang in LANGUAGES}
    item = next(i for i in instrument.items if i.id == ident)
    quotes = {"en": ("“", "”"), "zh-CN": ("“", "”")}
    return {lang: quotes[lang][0] + item.text_for(lang).rstrip(".。") + quotes[lang][1]
            for lang in LANGUAGES}


def direction_strategy(book: StrategyBook, label: Text, trend: dict[str, Any],
                       measure: str = "gap") -> Text:
    """The practice's strategy for a trend direction, with the ``measure`` (the gap, or a
    SERVPERF analysis' perception) observed at the first and the last wave (the fitted
    line's values are in the trend's ``first``/``last``)."""
    show = signed if measure == "gap" else plain
    return fill(book.directions[trend["direction"]]["strategy"], label=label,
                waves=trend.get("waves", 0), first=show(trend.get("observed_first")),
                last=show(trend.get("observed_last")), measure=book.words[measure],
                first_wave=trend.get("first_wave") or "–", last_wave=trend.get("last_wave") or "–")


def evidence_texts(point, book: StrategyBook, instrument: Instrument
                   ) -> dict[str, dict[str, Text]]:
    """For each piece of evidence: its label and the numbers behind it, in both languages."""
    out = {}
    for code, facts in point.evidence.items():
        entry = book.evidence.get(code)
        if entry is None:  # a strategy book without words for it: the report's own label
            continue
        if code == "negative_gap":
            values = dict(gap=signed(facts["gap"]), low=signed(facts["ci95_low"]),
                          high=signed(facts["ci95_high"]), p=pvalue(facts["p_adjusted"]))
        elif code == "falling_trend":
            values = dict(slope=signed(facts["slope_per_wave"], 3), waves=facts["waves"],
                          p=pvalue(decided_p(facts)), change=signed(facts["change"]))
        elif code == "target_missed":
            values = dict(measure=book.words[facts["measure"]], actual=signed(facts["actual"])
                          if facts["measure"] == "gap" else plain(facts["actual"]),
                          target=signed(facts["target"]) if facts["measure"] == "gap"
                          else plain(facts["target"]), distance=signed(facts["distance"]))
        elif code == "low_perception":
            values = dict(perception=plain(facts["perception"]),
                          standard=plain(facts["standard"]), low=plain(facts["ci95_low"]),
                          high=plain(facts["ci95_high"]), p=pvalue(facts["p_adjusted"]))
        elif code == "below_adequate":
            values = dict(perception=plain(facts["perception"]),
                          adequate=plain(facts["adequate"]), msa=signed(facts["msa"]),
                          p=pvalue(facts["p_adjusted"]))
        elif code == "complaints":
            values = dict(count=facts["count"], wave=facts["wave"],
                          rate=plain(facts["rate_per_1000"], 1),
                          trend=book.directions[facts["direction"]]["label"])
        elif code == "key_driver":  # weights in % of the outcome's variance
            outcome = instrument.outcome(facts["outcome"])
            values = dict(outcome=dict(outcome.label) if outcome and outcome.label
                          else book.words.get(facts["outcome"], {"en": facts["outcome"]}),
                          weight=plain(100 * facts["weight"], 1),
                          low=plain(100 * facts["ci95_low"], 1),
                          high=plain(100 * facts["ci95_high"], 1),
                          equal=plain(100 * facts["equal_share"], 1))
        else:  # below_peers, by the gap or (SERVPERF) the perception
            measure = "gap" if "gap" in facts else "perception"
            show = signed if measure == "gap" else plain
            unit = facts.get("label") or (str(facts["unit"]) if facts.get("external") else
                                          unit_value(book, instrument, facts["column"],
                                                     facts["unit"]))
            values = dict(unit=unit, gap=show(facts[measure]),
                          average=show(facts["average"]), p=pvalue(facts["p_adjusted"]),
                          measure=book.words[measure])
        out[code] = {"label": dict(entry["label"]), "detail": fill(entry["detail"], **values)}
    return out


def _count(n: float | None) -> str:
    return "–" if n is None or not math.isfinite(n) else f"{int(n):,}"


def recommend(point, book: StrategyBook, instrument: Instrument, config,
              dimension_priority: dict[str, int] | None = None,
              whole_gap: float | None = None) -> dict[str, Any]:
    """The strategy for one weak point: its parts (to show as lists) and the whole text.

    ``dimension_priority`` maps dimensions that are weak points themselves to their
    priority: an item of such a dimension refers to its card instead of repeating the
    dimension's actions and tool. A unit's strategy names the unit and sets its gap
    against ``whole_gap``, the same measure for all respondents.
    """
    label = point_label(point, book, instrument)
    parts: list[dict[str, Any]] = []
    trend = point.trend or {"direction": "insufficient_waves", "waves": 0}
    score = instrument.score
    parts.append({"kind": "direction", "direction": trend["direction"],
                  **direction_strategy(book, label, trend, score)})
    if point.kind == "unit":  # its gap, or a SERVPERF analysis' perception
        show = signed if score == "gap" else plain
        mean, low, high = (getattr(point, f"{score}_{k}")
                           for k in ("mean", "ci95_low", "ci95_high"))
        parts.append({"kind": "unit", "column": point.column, "value": point.value, **fill(
            book.units["focus"], label=label,
            value=unit_value(book, instrument, point.column, point.value),
            column=instrument.column_text(point.column),
            measure=book.words[score], gap=show(mean), low=show(low), high=show(high),
            n=_count(point.n), whole=show(whole_gap))})
    below = point.evidence.get("below_peers")
    if point.peers is not None and below is not None and not below.get("external"):
        b = point.peers  # the unit's place among the units: learn from the best one
        measure = "gap" if "gap_mean" in b else "perception"
        show = signed if measure == "gap" else plain
        parts.append({"kind": "peers", **fill(
            book.units["peers"], value=unit_value(book, instrument, b["column"], b["unit"]),
            gap=show(b[f"{measure}_mean"]), average=show(b["average_others"]),
            best=unit_value(book, instrument, b["column"], b["best_unit"]),
            best_gap=show(b[f"best_{measure}"]), rank=int(b["rank"]), units=int(b["units"]),
            measure=book.words[measure])})
    if point.alert:
        a = point.alert
        parts.append({"kind": "alert", **fill(
            book.alerts["drop"], change=plain(abs(a["change"])),  # "dropped by 0.19"
            previous_wave=a["previous_wave"],
            current_wave=a["current_wave"], p=pvalue(decided_p(a)))})
    referred = point.kind == "item" and point.dimension in (dimension_priority or {})
    if not referred:
        parts.append({"kind": "actions",
                      "items": [dict(a) for a in book.actions(point.dimension)]})
    for target in point.targets:
        measure = target["measure"]
        show = signed if measure == "gap" else plain
        part = {"kind": "target_missed", **fill(
            book.targets["missed"], measure=book.words[measure], actual=show(target["actual"]),
            target=show(target["target"]), distance=signed(target["distance"])),
            "items": [dict(c) for c in book.targets["causes"]]}
        if target["revise"]:
            part["revise"] = fill(book.targets["revise"], margin=plain(
                config.target_revise_margin), waves=config.target_revise_waves)
        parts.append(part)
    if point.customer_class is not None:
        c = point.customer_class
        measure = c.get("measure", "gap")
        show = signed if measure == "gap" else plain
        parts.append({"kind": "customer_class", "class": c["class"], **fill(
            book.classes[c["class"]]["strategy"], value=c["value"],
            gap=show(c[f"{measure}_mean"]), overall=show(c[f"overall_{measure}"]),
            measure=book.words[measure])})
    if referred:
        parts.append({"kind": "reference", "dimension": point.dimension, **fill(
            book.references["dimension"],
            label=subject_label("dimension", point.dimension, instrument),
            priority=dimension_priority[point.dimension])})
    else:
        tool = book.tool(point.dimension)
        parts.append({"kind": "tool", "tool": tool, "label": dict(book.tools[tool]["label"]),
                      **fill(book.tools[tool]["strategy"], label=label)})
    text = {}
    for lang in LANGUAGES:
        sentences = []
        for part in parts:
            if lang in part:
                sentences.append(part[lang])
            sentences += [item[lang] for item in part.get("items", [])]
            if "revise" in part:
                sentences.append(part["revise"][lang])
        text[lang] = (" " if lang == "en" else "").join(sentences)
    return {"text": text, "parts": parts, "label": label,
            "evidence": evidence_texts(point, book, instrument)}


def loyalty_strategies(book: StrategyBook, instrument: Instrument, shares: list[dict],
                       profiles: list[dict], wave: str) -> list[dict[str, Any]]:
    """The satisfaction–loyalty matrix's groups in ``wave`` (all respondents): each group's
    name, share and strategy, with the dimension the group rates worst (its lowest mean gap,
    or perception in SERVPERF) named in the strategy. Rows come from JSON ``loyalty.matrix``."""
    show = signed if instrument.score == "gap" else plain
    out = []
    for group, entry in book.loyalty.items():
        row = next((r for r in shares if r["wave"] == wave and r["column"] is None
                    and r["group"] == group), None)
        if row is None:
            continue
        own = [r for r in profiles if r["wave"] == wave and r["column"] is None
               and r["group"] == group and r["mean"] is not None]
        worst = min(own, key=lambda r: r["mean"], default=None)
        weakest = (subject_label("dimension", worst["dimension"], instrument) if worst
                   else {lang: "–" for lang in LANGUAGES})
        out.append({"group": group, "label": entry["label"], "share": row["share"],
                    "weakest": worst["dimension"] if worst else None,
                    "strategy": fill(entry["strategy"], share=f"{100 * row['share']:.0f}%",
                                     weakest=weakest, measure=book.words[instrument.score],
                                     gap=show(worst["mean"] if worst else None))})
    return out
