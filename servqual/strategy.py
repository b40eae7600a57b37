"""Evidence → recommended strategy, in English and Chinese, from an editable data file.

The words live in ``reports/strategies.toml`` (or a file given with ``--strategies``); this
module only checks that file and puts its pieces together for a weak point:

(a) actions for the dimension; (b) the strategy of the trend direction; (c) for a missed
target, the three causes to check and, when warranted, the suggestion to revise it; (d) when
the shortfall concentrates in a customer class, that class's strategy; (e) the
service-design tool that fits the dimension. Numbers are put in the texts as the evidence
shows them, so a manager can see what the recommendation rests on.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import unknown_key_message
from .errors import InstrumentError
from .files import read_toml
from .instrument import CLASS_KEYS, LANGUAGES, Instrument
from .models import DIRECTIONS, EVIDENCE
from .findings.evidence import decided_p
from .resources import data_file
from .textnumbers import plain, pvalue, signed

SERVQUAL_DIMENSIONS = ("tangibles", "reliability", "responsiveness", "assurance", "empathy")
# Sections and evidence added after strategy files were first written: a file without them
# takes them from the shipped file, so a customised file keeps working.
OPTIONAL_SECTIONS = ("units",)
OPTIONAL_EVIDENCE = ("below_adequate", "low_perception")

# Placeholders each kind of text may use (checked on load, so a typo cannot fail a run).
PLACEHOLDERS = {
    "directions": {"label", "waves", "first", "last", "first_wave", "last_wave", "measure"},
    "alerts": {"change", "previous_wave", "current_wave", "p"},
    "references": {"label", "priority"},
    "targets.missed": {"measure", "actual", "target", "distance"},
    "targets.revise": {"margin", "waves"},
    "classes": {"value", "gap", "overall", "measure"},
    "tools": {"label"},
    "evidence.negative_gap": {"gap", "low", "high", "p"},
    "evidence.falling_trend": {"slope", "waves", "p", "change"},
    "evidence.target_missed": {"measure", "actual", "target", "distance"},
    "evidence.complaints": {"count", "wave", "rate", "trend"},
    "evidence.below_peers": {"unit", "gap", "average", "p", "measure"},
    "evidence.below_adequate": {"perception", "adequate", "msa", "p"},
    "evidence.low_perception": {"perception", "standard", "low", "high", "p"},
    "units.label": {"label", "value", "column"},
    "units.focus": {"label", "value", "column", "gap", "low", "high", "n", "whole", "measure"},
    "units.peers": {"value", "gap", "average", "best", "best_gap", "rank", "units", "measure"},
}

Text = dict[str, str]


def default_strategies() -> Path:
    return data_file("strategies.toml")


@dataclass(frozen=True)
class StrategyBook:
    directions: dict[str, dict[str, Text]]
    dimensions: dict[str, dict[str, Any]]
    generic: dict[str, Any]
    targets: dict[str, Any]
    alerts: dict[str, Text]
    references: dict[str, Text]
    classes: dict[str, dict[str, Text]]
    tools: dict[str, dict[str, Text]]
    evidence: dict[str, dict[str, Text]]
    words: dict[str, Text]
    units: dict[str, Text]
    path: Path

    def actions(self, dimension: str) -> list[Text]:
        return self.dimensions.get(dimension, self.generic)["actions"]

    def tool(self, dimension: str) -> str:
        return self.dimensions.get(dimension, self.generic)["tool"]


class _Checker:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> None:
        raise InstrumentError(message, file=self.path, key=key)

    def table(self, value: Any, key: str) -> dict:
        if not isinstance(value, dict):
            self.fail(key, "must be a table")
        return value

    def keys(self, table: dict, allowed, key: str, required=()) -> None:
        for k in table:
            if k not in allowed:
                self.fail(f"{key}.{k}" if key else k, unknown_key_message(k, allowed))
        for k in required:
            if k not in table:
                self.fail(f"{key}.{k}" if key else k, "required key is missing")

    def text(self, value: Any, key: str, placeholders: set[str]) -> Text:
        value = self.table(value, key)
        for lang in LANGUAGES:
            if not isinstance(value.get(lang), str) or not value[lang].strip():
                self.fail(f"{key}.{lang}", "every text needs English (en) and Chinese (zh-CN)")
        self.keys(value, LANGUAGES, key)
        for lang in LANGUAGES:
            try:
                fields = {f for _, f, _, _ in string.Formatter().parse(value[lang]) if f}
            except ValueError as err:
                self.fail(f"{key}.{lang}", f"bad placeholder: {err}")
            unknown = fields - placeholders
            if unknown:
                allowed = ", ".join(sorted(placeholders)) or "none"
                self.fail(f"{key}.{lang}", f"unknown placeholder {{{sorted(unknown)[0]}}}; "
                          f"this text may use: {allowed}")
        return dict(value)

    def labelled(self, table: Any, key: str, text_key: str, placeholders,
                 allowed=None, required=()) -> dict[str, dict[str, Text]]:
        """A section of named entries, each ``{ label = …, <text_key> = … }``.

        ``placeholders`` is a set, or a function of the entry's name giving one.
        """
        table = self.table(table, key)
        if allowed is not None:
            self.keys(table, allowed, key, required=required)
        out = {}
        for name, spec in table.items():
            where = f"{key}.{name}"
            spec = self.table(spec, where)
            self.keys(spec, ("label", text_key), where, required=("label", text_key))
            allowed_fields = placeholders(name) if callable(placeholders) else placeholders
            out[name] = {"label": self.text(spec["label"], f"{where}.label", set()),
                         text_key: self.text(spec[text_key], f"{where}.{text_key}",
                                             allowed_fields)}
        return out

    def texts(self, value: Any, key: str, placeholders: set[str]) -> list[Text]:
        if not isinstance(value, list) or not value:
            self.fail(key, "must be a non-empty list of texts")
        return [self.text(v, f"{key}[{i}]", placeholders) for i, v in enumerate(value)]


def load_strategies(path: str | Path | None, instrument: Instrument) -> StrategyBook:
    """Read and check a strategy file (exit 65 naming the file and key on any problem)."""
    path = Path(path) if path is not None else default_strategies()
    doc = read_toml(path, "strategy")
    c = _Checker(path)
    required = ("directions", "dimensions", "generic", "targets", "alerts", "references",
                "classes", "tools", "evidence", "words")
    c.keys(doc, required + OPTIONAL_SECTIONS, "", required=required)
    if path != default_strategies():
        shipped = read_toml(default_strategies(), "strategy")
        for key in OPTIONAL_SECTIONS:
            doc.setdefault(key, shipped[key])
        if isinstance(doc["evidence"], dict):
            for key in OPTIONAL_EVIDENCE:
                doc["evidence"].setdefault(key, shipped["evidence"][key])

    tools = c.labelled(doc["tools"], "tools", "strategy", PLACEHOLDERS["tools"])
    directions = c.labelled(doc["directions"], "directions", "strategy",
                            PLACEHOLDERS["directions"], allowed=DIRECTIONS, required=DIRECTIONS)

    def actions_spec(spec: Any, key: str) -> dict[str, Any]:
        spec = c.table(spec, key)
        c.keys(spec, ("tool", "actions"), key, required=("tool", "actions"))
        if spec["tool"] not in tools:
            c.fail(f"{key}.tool", unknown_key_message(spec["tool"], tools))
        return {"tool": spec["tool"], "actions": c.texts(spec["actions"], f"{key}.actions",
                                                          set())}

    known_dimensions = set(SERVQUAL_DIMENSIONS) | set(instrument.dimension_keys)
    dimensions = {}
    for name, spec in c.table(doc["dimensions"], "dimensions").items():
        if name not in known_dimensions:
            c.fail(f"dimensions.{name}", unknown_key_message(name, sorted(known_dimensions)))
        dimensions[name] = actions_spec(spec, f"dimensions.{name}")
    generic = actions_spec(doc["generic"], "generic")

    targets = c.table(doc["targets"], "targets")
    c.keys(targets, ("missed", "causes", "revise"), "targets",
           required=("missed", "causes", "revise"))
    targets = {"missed": c.text(targets["missed"], "targets.missed",
                                PLACEHOLDERS["targets.missed"]),
               "causes": c.texts(targets["causes"], "targets.causes", set()),
               "revise": c.text(targets["revise"], "targets.revise",
                                PLACEHOLDERS["targets.revise"])}

    alerts = c.table(doc["alerts"], "alerts")
    c.keys(alerts, ("drop",), "alerts", required=("drop",))
    alerts = {"drop": c.text(alerts["drop"], "alerts.drop", PLACEHOLDERS["alerts"])}
    references = c.table(doc["references"], "references")
    c.keys(references, ("dimension",), "references", required=("dimension",))
    references = {"dimension": c.text(references["dimension"], "references.dimension",
                                      PLACEHOLDERS["references"])}
    classes = c.labelled(doc["classes"], "classes", "strategy", PLACEHOLDERS["classes"],
                         allowed=CLASS_KEYS)
    evidence = c.labelled(doc["evidence"], "evidence", "detail",
                          lambda name: PLACEHOLDERS[f"evidence.{name}"], allowed=EVIDENCE,
                          required=EVIDENCE)

    words = {}
    table = c.table(doc["words"], "words")
    c.keys(table, ("gap", "perception"), "words", required=("gap", "perception"))
    for name, spec in table.items():
        words[name] = c.text(spec, f"words.{name}", set())

    units = c.table(doc["units"], "units")
    c.keys(units, ("label", "focus", "peers"), "units", required=("label", "focus", "peers"))
    units = {k: c.text(units[k], f"units.{k}", PLACEHOLDERS[f"units.{k}"]) for k in units}

    return StrategyBook(directions=directions, dimensions=dimensions, generic=generic,
                        targets=targets, alerts=alerts, references=references, classes=classes,
                        tools=tools, evidence=evidence, words=words, units=units, path=path)


# --------------------------------------------------------------------------------------------
# Putting texts together


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
    return fill(book.units["label"], label=label, value=str(point.value),
                column=str(point.column))


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


def evidence_texts(point, book: StrategyBook) -> dict[str, dict[str, Text]]:
    """For each piece of evidence: its label and the numbers behind it, in both languages."""
    out = {}
    for code, facts in point.evidence.items():
        entry = book.evidence[code]
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
        else:  # below_peers, by the gap or (SERVPERF) the perception
            measure = "gap" if "gap" in facts else "perception"
            show = signed if measure == "gap" else plain
            values = dict(unit=str(facts["unit"]), gap=show(facts[measure]),
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
            book.units["focus"], label=label, value=str(point.value), column=str(point.column),
            measure=book.words[score], gap=show(mean), low=show(low), high=show(high),
            n=_count(point.n), whole=show(whole_gap))})
    below = point.evidence.get("below_peers")
    if point.peers is not None and below is not None and not below.get("external"):
        b = point.peers  # the unit's place among the units: learn from the best one
        measure = "gap" if "gap_mean" in b else "perception"
        show = signed if measure == "gap" else plain
        parts.append({"kind": "peers", **fill(
            book.units["peers"], value=str(b["unit"]), gap=show(b[f"{measure}_mean"]),
            average=show(b["average_others"]), best=str(b["best_unit"]),
            best_gap=show(b[f"best_{measure}"]), rank=int(b["rank"]), units=int(b["units"]),
            measure=book.words[measure])})
    if point.alert:
        a = point.alert
        parts.append({"kind": "alert", **fill(
            book.alerts["drop"], change=signed(a["change"]), previous_wave=a["previous_wave"],
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
            "evidence": evidence_texts(point, book)}
