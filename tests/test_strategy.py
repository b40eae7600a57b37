"""Strategy texts: both languages always, rule files checked on load, parts assembled."""

from __future__ import annotations

import json
import tomllib

import pytest

from fixtures import write
from servqual.errors import InstrumentError
from servqual.instrument import LANGUAGES, load_instrument
from servqual.strategy import (DIRECTIONS, EVIDENCE, default_strategies, load_strategies,
                               recommend)

from conftest import INSTRUMENT


@pytest.fixture(scope="module")
def instrument():
    return load_instrument(INSTRUMENT)


def shipped() -> str:
    return default_strategies().read_text(encoding="utf-8")


def test_shipped_book_loads_and_covers_everything(instrument):
    book = load_strategies(None, instrument)
    assert set(book.directions) == set(DIRECTIONS)
    assert set(book.evidence) == set(EVIDENCE)
    for dim in instrument.dimension_keys:
        assert book.dimensions[dim]["actions"] and book.tool(dim) in book.tools
    assert set(book.classes) >= {"core", "important", "regular", "value", "sub_value",
                                 "potential_value", "low_value"}
    assert len(book.targets["causes"]) == 3


def walk_texts(node, path=""):
    if isinstance(node, dict) and set(node) & set(LANGUAGES):
        yield path, node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from walk_texts(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_texts(v, f"{path}[{i}]")


def test_every_text_of_the_shipped_book_exists_in_both_languages():
    doc = tomllib.loads(shipped())
    texts = list(walk_texts(doc))
    assert len(texts) > 50
    for path, text in texts:
        for lang in LANGUAGES:
            assert text.get(lang, "").strip(), f"{path} lacks {lang}"


def test_every_recommendation_of_the_demo_is_in_both_languages(instrument):
    from test_findings import _sample_run
    from fixtures import run_and_check
    results, _ = run_and_check(*_sample_run())
    doc = json.loads(results.dumps())
    assert doc["weak_points"]
    kinds = set()
    for point in doc["weak_points"]:
        for lang in LANGUAGES:
            assert point["strategy"][lang].strip()
            for detail in point["evidence_details"].values():
                assert detail["detail"][lang].strip() and detail["label"][lang].strip()
        for part in point["strategy_parts"]:
            kinds.add(part["kind"])
            for item in part.get("items", []):
                assert all(item[lang].strip() for lang in LANGUAGES)
        # Chinese text is Chinese; English text is not (segment values such as 核心 may
        # appear in it as data, so the check is on the direction sentence).
        assert any("\u4e00" <= ch <= "\u9fff" for ch in point["strategy"]["zh-CN"])
        direction = point["strategy_parts"][0]
        assert direction["kind"] == "direction"
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in direction["en"])
    assert kinds >= {"direction", "actions", "target_missed", "customer_class", "tool"}
    for trend in doc["trends"]:
        assert all(trend["strategy"][lang].strip() for lang in LANGUAGES)


@pytest.mark.parametrize(("old", "new", "key"), [
    ("[dimensions.tangibles]", "[dimensions.tangibels]", "dimensions.tangibels"),
    ("[evidence.below_peers]", "[evidence.below_average]", "evidence.below_average"),
    ('label = { en = "Below peers", zh-CN = "低于同行" }', 'label = { en = "Below peers" }',
     "evidence.below_peers.label.zh-CN"),
    ("[classes.core]", "[classes.vip]", "classes.vip"),
    ('tool = "peak_end"', 'tool = "peak_start"', "dimensions.assurance.tool"),
    ("{waves} waves ({measure} {first}", "{waves} waves ({measure} {frist}",
     "directions.rising.strategy.en"),
    # a format, a conversion or a position crashed the report (or wrote 800 MB of padding)
    ("{waves} waves ({measure} {first}", "{waves} waves ({measure} {first:d}",
     "directions.rising.strategy.en"),
    ("{waves} waves ({measure} {first}", "{waves} waves ({measure} {first:>99999999}",
     "directions.rising.strategy.en"),
    ("{waves} waves ({measure} {first}", "{waves} waves ({measure} {first!r}",
     "directions.rising.strategy.en"),
    ("{waves} waves ({measure} {first}", "{waves} waves ({measure} {}",
     "directions.rising.strategy.en"),
    ("{waves} waves ({measure} {first}", "{waves} waves ({measure} {first",
     "directions.rising.strategy.en"),
])
def test_rule_file_errors_name_file_and_key(tmp_path, instrument, old, new, key):
    text = shipped()
    assert old in text
    path = write(tmp_path / "strategies.toml", text.replace(old, new, 1))
    with pytest.raises(InstrumentError) as info:
        load_strategies(path, instrument)
    assert info.value.key == key and info.value.exit_code == 65
    assert str(path) in str(info.value)


def test_missing_direction_is_an_error(tmp_path, instrument):
    text = shipped()
    start = text.index("[directions.insufficient_waves]")
    end = text.index("# --- Wave-over-wave alert")
    path = write(tmp_path / "s.toml", text[:start] + text[end:])
    with pytest.raises(InstrumentError) as info:
        load_strategies(path, instrument)
    assert info.value.key == "directions.insufficient_waves"


def test_custom_dimension_falls_back_to_generic_actions(tmp_path):
    from fixtures import tiny
    inst = load_instrument(tiny(tmp_path)[0])  # dimensions alpha, beta: not in the book
    book = load_strategies(None, inst)
    assert book.actions("alpha") == book.generic["actions"]
    assert book.tool("alpha") == "service_monitoring"


def test_parts_of_a_recommendation(instrument):
    from servqual.findings import WeakPoint
    book = load_strategies(None, instrument)
    point = WeakPoint(
        kind="dimension", id="empathy", dimension="empathy", gap_mean=-0.7,
        evidence={"target_missed": {"measure": "gap", "actual": -0.7, "target": -0.3,
                                    "distance": -0.4, "column": "", "value": ""}},
        direction="flat",
        trend={"direction": "flat", "waves": 8, "first": -0.7, "last": -0.7,
               "observed_first": -0.68, "observed_last": -0.72, "first_wave": "2024Q4",
               "last_wave": "2026Q3"},
        targets=[{"measure": "gap", "actual": -0.7, "target": -0.3, "distance": -0.4,
                  "revise": True}],
        customer_class={"class": "core", "value": "核心", "gap_mean": -1.1,
                        "overall_gap": -0.7})
    rec = recommend(point, book, instrument, instrument.analysis)
    kinds = [p["kind"] for p in rec["parts"]]
    assert kinds == ["direction", "actions", "target_missed", "customer_class", "tool"]
    target = rec["parts"][2]
    assert "−0.40" in target["en"] and len(target["items"]) == 3 and "revise" in target
    assert "核心" in rec["parts"][3]["zh-CN"] and "−1.10" in rec["parts"][3]["en"]
    assert rec["parts"][4]["tool"] == "peak_end"
    assert "个性化关怀" in rec["text"]["zh-CN"] and "Empathy" in rec["text"]["en"]


def test_direction_text_quotes_the_observed_gaps(instrument):
    from servqual.strategy import direction_strategy, subject_label
    book = load_strategies(None, instrument)
    text = direction_strategy(book, subject_label("dimension", "reliability", instrument), {
        "direction": "falling", "waves": 8, "first": -0.49, "last": -1.07,
        "observed_first": -0.51, "observed_last": -1.08, "first_wave": "2024Q4",
        "last_wave": "2026Q3"})
    assert "−0.51 in 2024Q4 to −1.08 in 2026Q3" in text["en"]
    assert "2024Q4 的 −0.51" in text["zh-CN"] and "2026Q3 的 −1.08" in text["zh-CN"]


def test_alert_and_reference_parts(instrument):
    """An item of a dimension that is itself a weak point refers to that card instead of
    repeating its actions; a wave-over-wave drop adds an alert."""
    from servqual.findings import WeakPoint
    book = load_strategies(None, instrument)
    point = WeakPoint(kind="item", id="q14", dimension="assurance", gap_mean=-0.6,
                      evidence={"negative_gap": {"gap": -0.6, "ci95_low": -0.7,
                                                 "ci95_high": -0.5, "p_adjusted": 0.001}},
                      direction="flat",
                      trend={"direction": "flat", "waves": 8},
                      alert={"previous_wave": "2026Q2", "current_wave": "2026Q3",
                             "change": -0.23, "p_value": 0.0004})
    rec = recommend(point, book, instrument, instrument.analysis, {"assurance": 4})
    kinds = [p["kind"] for p in rec["parts"]]
    assert kinds == ["direction", "alert", "reference"]
    # a drop is said once: "dropped by 0.23", "下降了 0.23", never "dropped by −0.23"
    assert "dropped by 0.23 " in rec["parts"][1]["en"] and "−" not in rec["parts"][1]["en"]
    assert "下降了 0.23" in rec["parts"][1]["zh-CN"] and "2026Q2" in rec["parts"][1]["zh-CN"]
    assert "Assurance (weak point 4)" in rec["parts"][2]["en"]
    alone = recommend(point, book, instrument, instrument.analysis, {})
    assert [p["kind"] for p in alone["parts"]] == ["direction", "alert", "actions", "tool"]
    assert "p < 0.001" in rec["parts"][1]["en"]  # no family decided it: the test's own p
    # an alert decided in its family (two-level BH) quotes the p-value it was decided on
    point.alert = {**point.alert, "p_adjusted": 0.031}
    rec = recommend(point, book, instrument, instrument.analysis, {"assurance": 4})
    assert "p = 0.031" in rec["parts"][1]["en"] and "p = 0.031" in rec["parts"][1]["zh-CN"]
