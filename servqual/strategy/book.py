"""The strategy book: the words of every recommendation, read from ``reports/strategies.toml``
(or a file given with ``--strategies``) and checked on load, so that a typo in an edited file
is an error naming the file and key, never a failed run (:mod:`.texts` puts them together).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import unknown_key_message
from ..files import read_toml
from ..instrument import CLASS_KEYS, LANGUAGES, Instrument
from ..instrument.outcomes import OUTCOMES
from ..models import DIRECTIONS, EVIDENCE
from ..resources import data_file
from ..stats.matrix import GROUPS
from ..tomlcheck import TomlChecker, placeholder_problem

SERVQUAL_DIMENSIONS = ("tangibles", "reliability", "responsiveness", "assurance", "empathy")
# Sections and evidence added after strategy files were first written: a file without them
# takes them from the shipped file, so a customised file keeps working.
OPTIONAL_SECTIONS = ("units", "loyalty")
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
    "loyalty": {"share", "weakest", "gap", "measure"},
    "evidence.negative_gap": {"gap", "low", "high", "p"},
    "evidence.falling_trend": {"slope", "waves", "p", "change"},
    "evidence.target_missed": {"measure", "actual", "target", "distance"},
    "evidence.complaints": {"count", "wave", "rate", "trend"},
    "evidence.below_peers": {"unit", "gap", "average", "p", "measure"},
    "evidence.below_adequate": {"perception", "adequate", "msa", "p"},
    "evidence.low_perception": {"perception", "standard", "low", "high", "p"},
    "evidence.key_driver": {"outcome", "weight", "low", "high", "equal"},
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
    loyalty: dict[str, dict[str, Text]] = field(default_factory=dict)  # matrix groups

    def actions(self, dimension: str) -> list[Text]:
        return self.dimensions.get(dimension, self.generic)["actions"]

    def tool(self, dimension: str) -> str:
        return self.dimensions.get(dimension, self.generic)["tool"]


class _Checker(TomlChecker):
    """The strategy file's checks: tables and keys, and texts in both languages."""

    def text(self, value: Any, key: str, placeholders: set[str]) -> Text:
        value = self.table(value, key)
        for lang in LANGUAGES:
            if not isinstance(value.get(lang), str) or not value[lang].strip():
                self.fail(f"{key}.{lang}", "every text needs English (en) and Chinese (zh-CN)")
        self.keys(value, LANGUAGES, key)
        for lang in LANGUAGES:
            problem = placeholder_problem(value[lang], placeholders)
            if problem:
                self.fail(f"{key}.{lang}", problem)
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
                          # a book written before key drivers still reads
                          required=tuple(e for e in EVIDENCE if e != "key_driver"))

    words = {}
    table = c.table(doc["words"], "words")
    c.keys(table, ("gap", "perception", *OUTCOMES), "words", required=("gap", "perception"))
    for name, spec in table.items():
        words[name] = c.text(spec, f"words.{name}", set())

    units = c.table(doc["units"], "units")
    c.keys(units, ("label", "focus", "peers"), "units", required=("label", "focus", "peers"))
    units = {k: c.text(units[k], f"units.{k}", PLACEHOLDERS[f"units.{k}"]) for k in units}

    loyalty = c.labelled(doc["loyalty"], "loyalty", "strategy", PLACEHOLDERS["loyalty"],
                         allowed=GROUPS, required=GROUPS)
    return StrategyBook(directions=directions, dimensions=dimensions, generic=generic,
                        targets=targets, alerts=alerts, references=references, classes=classes,
                        tools=tools, evidence=evidence, words=words, units=units, path=path,
                        loyalty=loyalty)


# --------------------------------------------------------------------------------------------
# Putting texts together
