"""The urgent-frame picture: which candidate fired the rule, and a readable PNG of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.formats.dataset import FrameLabels, ObjectLabel
from simulators.render import LabelPlacer, TopView
from simulators.urgent_frame import explain_frame, render_urgent_frame, title_of, visible_anchor

RULES = {
    "novel_object": "min.knn_tail < 0.002 or min.mahalanobis_tail < 0.002",
    "vru_unsure": "count.vru > 0 and min_confidence.vru < 0.5",
    "unusual_frame": "frame.surprise > 3",
}


def det(cls: str, conf: float, x: float, y: float, knn: float, maha: float = 0.5) -> dict[str, Any]:
    return {
        "class_name": cls,
        "confidence": conf,
        "box": [x, y, -0.8, 4.0, 1.8, 1.5, 0.2],
        "num_points": 40,
        "scores": {"knn_tail": knn, "mahalanobis_tail": maha, "entropy": 0.3},
    }


def detail(detections: list[dict[str, Any]], rules: list[str], **frame: float) -> dict[str, Any]:
    return {
        "vehicle": "car-7",
        "priority": 3.25,
        "rules_fired": rules,
        "num_points": 5000,
        "frame_scores": {"score": 0.99, "p_value": 0.01, "surprise": 2.0, **frame},
        "detections": detections,
    }


def test_the_one_detection_without_which_the_rule_fails_decided_it() -> None:
    frame = detail(
        [
            det("car", 0.9, 5, 2, 0.3),
            det("background", 0.8, 12, -4, 0.0004),
            det("car", 0.95, 20, 6, 0.2),
        ],
        ["novel_object"],
    )
    explained = explain_frame(frame, RULES)
    assert (explained.rule, explained.candidate) == ("novel_object", 1)
    assert explained.signal == "min.knn_tail" and explained.value == pytest.approx(0.0004)
    # the second alternative of the rule decides when the first does not hold
    frame["detections"] = [det("car", 0.9, 5, 2, 0.3), det("truck", 0.7, 9, 1, 0.4, maha=1e-4)]
    explained = explain_frame(frame, RULES)
    assert explained.candidate == 1 and explained.signal == "min.mahalanobis_tail"


def test_when_two_candidates_each_suffice_the_most_extreme_is_shown() -> None:
    frame = detail(
        [det("car", 0.9, 5, 2, 0.001), det("bus", 0.8, 12, -4, 0.0002)], ["novel_object"]
    )
    explained = explain_frame(frame, RULES)
    assert explained.candidate == 1 and explained.value == pytest.approx(0.0002)


def test_a_vulnerable_road_user_rule_names_the_unsure_one() -> None:
    frame = detail(
        [
            det("pedestrian", 0.9, 5, 2, 0.5),
            det("cyclist", 0.3, 8, 1, 0.5),
            det("car", 0.2, 3, 3, 0.5),
        ],
        ["vru_unsure", "novel_object"],
    )
    explained = explain_frame(frame, RULES)
    assert explained.rule == "vru_unsure" and explained.candidate == 1
    assert explained.signal == "min_confidence.vru" and explained.value == pytest.approx(0.3)
    title = title_of(frame, explained, "frame #4")
    assert title.splitlines() == [
        "frame #4: sent by car-7 with priority 3.25 (rules: vru_unsure, novel_object)",
        "rule vru_unsure: count.vru > 0 and min_confidence.vru < 0.5",
        "candidate: cyclist (0.30), min_confidence.vru = 0.3; frame score 0.990 (surprise 2.0)",
    ]


@pytest.mark.parametrize(
    ("fired", "rule", "when"),
    [
        (["unusual_frame"], "unusual_frame", RULES["unusual_frame"]),
        (["context:novel_object"], "context:novel_object", "context around a trigger"),
        (["random_sample"], "random_sample", ""),
    ],
)
def test_frame_level_context_and_sample_keeps_have_no_single_candidate(
    fired: list[str], rule: str, when: str
) -> None:
    frame = detail([det("car", 0.9, 5, 2, 0.3)], fired, surprise=4.0)
    explained = explain_frame(frame, RULES)
    assert (explained.rule, explained.when, explained.candidate) == (rule, when, None)
    assert title_of(frame, explained, "f").splitlines()[-1] == "frame score 0.990 (surprise 4.0)"


def test_a_box_is_labelled_where_it_is_visible() -> None:
    square = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [-1.0, 1.0]])
    assert visible_anchor(square, (0.0, 0.0), 50.0) == (0.0, 0.0)  # the centre, in view
    wall = square * [200.0, 1.0] + [150.0, 10.0]  # centre far right, left end in view
    x, y = visible_anchor(wall, (150.0, 10.0), 50.0)  # type: ignore[misc]
    assert x == pytest.approx(47.5, abs=0.3) and abs(y) <= 11.0
    assert visible_anchor(square + 300.0, (300.0, 300.0), 50.0) is None


def test_labels_never_overlap_and_the_rest_are_left_out() -> None:
    view = TopView(20.0)
    placer = LabelPlacer(view.ax)
    drawn = [placer.place(1.0, 1.0 + 0.01 * i, f"pedestrian 0.{i}") for i in range(12)]
    assert drawn[0] and not all(drawn)  # a crowd: the first get places, the rest are skipped
    assert placer.skipped == drawn.count(False)
    boxes = placer.placed
    assert all(not a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    assert not placer.place(100.0, 0.0, "outside the view")


def test_render_writes_the_picture(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    points = rng.uniform(-40, 40, (3000, 4)).astype(np.float32)
    labels = FrameLabels(
        0, 0, (0.0,) * 6, (ObjectLabel("stroller", 2, (12.0, -4.0, -1.0, 1.0, 0.6, 1.0, 0.0), 30),)
    )
    frame = detail(
        [det("background", 0.8, 12, -4, 0.0004), det("car", 0.9, 5, 2, 0.3)], ["novel_object"]
    )
    out = tmp_path / "urgent.png"
    render_urgent_frame(points, labels, frame, explain_frame(frame, RULES), out, extent=40.0)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
