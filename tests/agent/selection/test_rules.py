from __future__ import annotations

import math

import pytest

from agent.selection.rules import Rule, RuleSpec, compile_rules
from agent.selection.signals import DetectionFacts, SignalSchema, compute_signals
from core.errors import ConfigError
from core.expr import ExpressionError

KNOWN = frozenset({"x"})


def fire_pattern(rule: Rule, values: list[float], dt: float = 1.0) -> list[bool]:
    return [rule.check({"x": v}, i * dt) for i, v in enumerate(values)]


def test_level_mode_fires_on_every_frame_where_it_holds() -> None:
    rule = Rule(RuleSpec("hot", "x > 1"), KNOWN)
    assert fire_pattern(rule, [0, 2, 2, 0, 2]) == [False, True, True, False, True]


def test_edge_mode_fires_only_on_rising_edges() -> None:
    rule = Rule(RuleSpec("hot", "x > 1", mode="edge"), KNOWN)
    assert fire_pattern(rule, [2, 2, 0, 2, 2, 0]) == [True, False, False, True, False, False]


def test_min_interval_spaces_firings_in_capture_time() -> None:
    rule = Rule(RuleSpec("hot", "x > 1", min_interval_s=2.5), KNOWN)
    assert fire_pattern(rule, [2, 2, 2, 2, 2, 2]) == [True, False, False, True, False, False]


def test_errors_name_the_rule() -> None:
    with pytest.raises(ExpressionError, match=r"rule 'vru_unsure': unknown signal 'y' at column 1"):
        Rule(RuleSpec("vru_unsure", "y > 1"), KNOWN)
    with pytest.raises(ConfigError, match=r"rule 'r': mode must be 'level' or 'edge', got 'pulse'"):
        Rule(RuleSpec("r", "x > 1", mode="pulse"), KNOWN)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="duplicated"):
        compile_rules([RuleSpec("a", "x > 1"), RuleSpec("a", "x > 2")], KNOWN)
    with pytest.raises(ConfigError, match="'manual' is reserved"):
        compile_rules([RuleSpec("manual", "x > 1")], KNOWN)


def test_every_rule_is_compiled_and_all_problems_are_listed_with_their_rule() -> None:
    specs = [
        RuleSpec("ok", "x > 1"),
        RuleSpec("typo", "x > 1 or y < 2"),
        RuleSpec("ok", "x > 3"),
        RuleSpec("broken", "x >"),
    ]
    with pytest.raises(ConfigError) as info:
        compile_rules(specs, KNOWN)
    assert info.value.problems == (
        "selection.rules[1]: rule 'typo': unknown signal 'y' at column 10",
        "selection.rules[2]: rule name 'ok' is empty or duplicated",
        "selection.rules[3]: rule 'broken': expected a value, found end of expression at column 4",
    )
    with pytest.raises(ExpressionError) as single:  # alone, a rule's error keeps its column
        compile_rules(specs[:2], KNOWN)
    assert single.value.column == 10


def test_signals_cover_classes_the_vru_group_scores_and_vehicle() -> None:
    schema = SignalSchema(
        class_names=("car", "pedestrian", "cyclist"),
        detection_score_names=("entropy",),
        frame_score_names=("score",),
        vehicle_signal_names=("speed_mps",),
    )
    box = (0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0)
    dets = [
        DetectionFacts("pedestrian", 0.4, box, 10, {"entropy": 0.9}),
        DetectionFacts("pedestrian", 0.7, box, 12, {"entropy": 0.2}),
        DetectionFacts("cyclist", 0.6, box, 30, {"entropy": 0.5}),
        DetectionFacts("car", 0.95, box, 300, {"entropy": 0.1}),
    ]
    signals = compute_signals(schema, dets, {"score": 0.3}, {"speed_mps": 12.0}, 5000)
    assert set(signals) == schema.names()
    assert signals["count.pedestrian"] == 2
    assert signals["min_confidence.pedestrian"] == 0.4
    assert signals["max_confidence.pedestrian"] == 0.7
    assert signals["count.vru"] == 3
    assert signals["min_confidence.vru"] == 0.4
    assert signals["max.entropy"] == 0.9
    assert signals["min.entropy"] == 0.1
    assert signals["frame.score"] == 0.3
    assert signals["vehicle.speed_mps"] == 12.0
    assert signals["num_points"] == 5000
    # an absent class never looks unsure
    empty = compute_signals(schema, [], {}, {}, 0)
    assert empty["min_confidence.cyclist"] == 1.0
    assert empty["count.cyclist"] == 0.0
    assert math.isnan(empty["max.entropy"]) and math.isnan(empty["min.entropy"])


def test_unexplained_clusters_counts_large_detections_the_model_cannot_name() -> None:
    schema = SignalSchema(class_names=("background", "car"))
    box = (5.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0)
    dets = [
        DetectionFacts("background", 0.3, box, 80),  # large and unsure: counted
        DetectionFacts("car", 0.45, box, 20),  # exactly the point floor, unsure: counted
        DetectionFacts("car", 0.45, box, 19),  # too few points to judge: not counted
        DetectionFacts("car", 0.5, box, 500),  # confident enough: explained
    ]
    assert compute_signals(schema, dets, {}, {}, 1000)["unexplained_clusters"] == 2.0
    assert compute_signals(schema, [], {}, {}, 0)["unexplained_clusters"] == 0.0
