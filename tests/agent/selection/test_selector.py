from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agent.selection.budget import SelectionBudget
from agent.selection.dedup import NearDuplicateFilter, frame_embedding
from agent.selection.manual import ManualTrigger
from agent.selection.rules import Rule, RuleSpec
from agent.selection.selector import MANUAL_PRIORITY, Selection, Selector, WindowSpec

KNOWN = frozenset({"x"})


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make_selector(
    *,
    window: WindowSpec | None = None,
    frames_per_hour: float = 1e6,
    dedup: float = 2.0,
    sample_rate: float = 0.0,
    manual_file: Path | None = None,
    rules: list[RuleSpec] | None = None,
) -> Selector[int]:
    specs = rules if rules is not None else [RuleSpec("hot", "x > 1", priority=2.0)]
    return Selector(
        [Rule(s, KNOWN) for s in specs],
        SelectionBudget(frames_per_hour, 1e12, FakeClock(), reserve_fraction=0.0),
        NearDuplicateFilter(dedup, window_s=10.0),
        ManualTrigger(manual_file),
        window=window or WindowSpec(),
        sample_rate=sample_rate,
        rng=random.Random(7),
    )


def run(selector: Selector[int], xs: list[float]) -> list[Selection[int]]:
    out: list[Selection[int]] = []
    for i, x in enumerate(xs):
        out += selector.offer(i, {"x": x}, i * 0.1).selections
    return out


def test_triggered_frames_record_their_rules_and_priority() -> None:
    selector = make_selector(
        rules=[RuleSpec("hot", "x > 1", priority=2.0), RuleSpec("very_hot", "x > 5", priority=3.0)]
    )
    kept = run(selector, [0, 2, 0, 9])
    assert [(s.item, s.rules_fired, s.priority) for s in kept] == [
        (1, ("hot",), 2.0),
        (3, ("hot", "very_hot"), 3.0),
    ]


def test_pre_and_post_context_at_a_reduced_rate() -> None:
    selector = make_selector(window=WindowSpec(pre_frames=2, post_frames=2, stride=2))
    xs = [0.0] * 10 + [2.0] + [0.0] * 10
    kept = run(selector, xs)
    assert [s.item for s in kept] == [6, 8, 10, 12, 14]  # every 2nd frame, symmetric
    assert [s.is_context for s in kept] == [True, True, False, True, True]
    assert kept[0].rules_fired == ("context:hot",)
    assert kept[0].priority < kept[2].priority


def test_pre_context_is_not_sent_twice() -> None:
    selector = make_selector(window=WindowSpec(pre_frames=3, post_frames=0, stride=1))
    kept = run(selector, [0, 0, 2, 0, 2])
    assert [s.item for s in kept] == [0, 1, 2, 3, 4]


def embedding(angle: float) -> npt.NDArray[np.float32]:
    vec = frame_embedding(np.array([[np.cos(angle), np.sin(angle)]], dtype=np.float32))
    assert vec is not None
    return vec


def test_near_duplicates_are_suppressed_until_the_window_passes() -> None:
    selector = make_selector(dedup=0.95)
    decisions = [
        selector.offer(i, {"x": 2.0}, t, embedding=embedding(a))
        for i, (t, a) in enumerate([(0.0, 0.0), (1.0, 0.05), (2.0, 1.5), (11.5, 0.0)])
    ]
    assert [bool(d.selections) for d in decisions] == [True, False, True, True]
    assert decisions[1].suppressed == "duplicate"
    assert decisions[1].fired == ("hot",)


def test_budget_suppresses_and_says_so() -> None:
    selector = make_selector(frames_per_hour=2)
    decisions = [selector.offer(i, {"x": 2.0}, i) for i in range(4)]
    assert [bool(d.selections) for d in decisions] == [True, True, False, False]
    assert decisions[2].suppressed == "budget"


def test_manual_trigger_by_file_bypasses_budget_and_dedup(tmp_path: Path) -> None:
    trigger = tmp_path / "trigger"
    selector = make_selector(frames_per_hour=1, dedup=0.5, manual_file=trigger)
    assert selector.offer(0, {"x": 2.0}, 0.0, embedding=embedding(0)).selections
    trigger.touch()
    kept = selector.offer(1, {"x": 0.0}, 0.1, embedding=embedding(0)).selections
    assert [(s.item, s.rules_fired, s.priority) for s in kept] == [
        (1, ("manual",), MANUAL_PRIORITY)
    ]
    assert not trigger.exists()
    assert not selector.offer(2, {"x": 0.0}, 0.2).selections  # consumed: fires once
    selector.manual.request()  # the SIGUSR1 path
    assert selector.offer(3, {"x": 0.0}, 0.3).selections[0].rules_fired == ("manual",)


def test_random_sample_keeps_about_its_rate_and_is_reproducible() -> None:
    selector = make_selector(sample_rate=0.05, rules=[])
    kept = run(selector, [0.0] * 4000)
    assert 120 <= len(kept) <= 280
    assert all(s.rules_fired == ("random_sample",) for s in kept)
    again = run(make_selector(sample_rate=0.05, rules=[]), [0.0] * 4000)
    assert [s.item for s in kept] == [s.item for s in again]


def test_frame_score_orders_frames_of_equal_rule_priority() -> None:
    selector = make_selector()
    low = selector.offer(0, {"x": 2.0}, 0.0, frame_score=0.1).selections[0]
    high = selector.offer(1, {"x": 2.0}, 1.0, frame_score=0.9).selections[0]
    assert high.priority > low.priority


def test_samples_bring_no_context_and_nan_scores_do_not_poison_priority() -> None:
    selector = make_selector(
        window=WindowSpec(pre_frames=2, post_frames=2), sample_rate=1.0, rules=[]
    )
    kept = run(selector, [0.0] * 3)
    assert [(s.item, s.is_context) for s in kept] == [(0, False), (1, False), (2, False)]
    scored = make_selector().offer(0, {"x": 2.0}, 0.0, frame_score=float("nan")).selections[0]
    assert scored.priority == 2.0


def test_one_upload_per_place_spends_the_budget_on_distinct_events() -> None:
    from agent.selection.dedup import PlaceFilter

    selector: Selector[int] = Selector(
        [Rule(RuleSpec("hot", "x > 1", priority=2.0), KNOWN)],
        SelectionBudget(1e6, 1e12, FakeClock(), reserve_fraction=0.0),
        NearDuplicateFilter(2.0, window_s=10.0),
        ManualTrigger(None),
        rng=random.Random(7),
        places=PlaceFilter(radius_m=10.0, window_s=30.0),
    )
    # a stroller at world (50, 12) fires for ten frames, then debris 40 m on, then the stroller
    # again after the window has passed
    places = [(50.0 + 0.1 * i, 12.0) for i in range(10)] + [(90.0, -2.0)] * 3 + [(50.0, 12.0)]
    times = [0.1 * i for i in range(13)] + [40.0]
    kept, reasons = [], []
    for i, (place, now) in enumerate(zip(places, times, strict=True)):
        decision = selector.offer(i, {"x": 2.0}, now, place=place)
        kept += [s.item for s in decision.selections]
        reasons.append(decision.suppressed)
    assert kept == [0, 10, 13]
    assert reasons.count("duplicate") == 11
    # unknown places are never duplicates
    assert not PlaceFilter(10.0, 30.0).is_duplicate(None, 0.0)
