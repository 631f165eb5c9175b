"""Routing rules: compiled with precise errors, evaluated over the task's signals in order,
spot checks drawn for tier 1, and the rule that decided recorded."""

from __future__ import annotations

import math

import pytest

from backend.annotation.ontology import default_ontology
from backend.annotation.routing import Prelabel, compile_rules, route, signals
from core.errors import ConfigError

ONTO = default_ontology()


def values(**overrides: object) -> dict[str, float]:
    out = signals(
        priority=2.0,
        frames=3,
        points=1000,
        frame_scores={"surprise": 4.0},
        rules_fired=["novel_object"],
        prelabels=[
            Prelabel("pedestrian", 0.4, {"knn_tail": 0.001}),
            Prelabel("car", 0.95, {"knn_tail": 0.3}),
        ],
        ontology=ONTO,
    )
    out.update(overrides)  # type: ignore[arg-type]
    return out


def test_signals_describe_the_prelabels_and_the_trigger() -> None:
    v = values()
    assert v["prelabel.count"] == 2 and v["prelabel.min_confidence"] == 0.4
    assert v["count.vru"] == 1 and v["count.vehicle"] == 1 and v["count.truck"] == 0
    assert v["min_confidence.vru"] == 0.4 and v["min_confidence.truck"] == 1.0
    assert v["min.knn_tail"] == 0.001 and v["max.knn_tail"] == 0.3
    assert v["rule.novel_object"] == 1.0 and v["frame.surprise"] == 4.0
    assert math.isnan(v["frame.p_value"]) and math.isnan(v["agreement.recent"])


def test_first_matching_rule_decides_and_spot_checks_come_from_tier_1() -> None:
    rules = compile_rules(
        [
            ("absent_rule", "rule.lidar_blocked > 0", 3, 3),
            ("vru", "count.vru > 0 and min_confidence.vru < 0.5", 3, 3),
            ("confident", "prelabel.min_confidence > 0.9", 1, 1),
        ],
        ONTO,
    )
    kwargs = dict(default_tier=2, default_overlap=3, spot_check_share=0.1)
    assert route(values(), rules, draw=0.5, **kwargs).rule == "vru"  # type: ignore[arg-type]
    decided = route(values(), rules, draw=0.5, **kwargs)  # type: ignore[arg-type]
    assert (decided.tier, decided.overlap, decided.spot_check) == (3, 3, False)
    calm = values(**{"count.vru": 0.0, "prelabel.min_confidence": 0.95})
    assert route(calm, rules, draw=0.5, **kwargs).tier == 1  # type: ignore[arg-type]
    spot = route(calm, rules, draw=0.05, **kwargs)  # type: ignore[arg-type]
    assert (spot.rule, spot.tier, spot.overlap, spot.spot_check) == ("confident", 2, 1, True)
    neither = values(**{"count.vru": 0.0, "prelabel.min_confidence": 0.6})
    assert route(neither, rules, draw=0.5, **kwargs).rule == "default"  # type: ignore[arg-type]


def test_every_bad_rule_is_reported_with_its_position_and_column() -> None:
    with pytest.raises(ConfigError) as info:
        compile_rules(
            [
                ("typo", "count.pedestrain > 0", 2, 1),
                ("", "priority > 1", 2, 1),
                ("bad_tier", "priority > 1", 4, 1),
                ("lonely", "priority > 1", 3, 1),
                ("syntax", "priority >", 2, 1),
            ],
            ONTO,
        )
    problems = info.value.problems
    assert len(problems) == 5
    assert (
        "rules[0] (typo): unknown signal 'count.pedestrain' (did you mean 'count.pedestrian'?)"
        in problems[0]
    )
    assert "every rule needs a name and a when" in problems[1]
    assert "tier must be 1, 2 or 3, got 4" in problems[2]
    assert "tier 3 needs overlap >= 2" in problems[3]
    assert "column" in problems[4]
