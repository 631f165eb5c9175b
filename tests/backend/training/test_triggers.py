"""Retraining triggers: counts, slice shares, schedule (injected clock) and requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.errors import TrainingError
from backend.training.triggers import LabelStats, RetrainTrigger, TriggerPolicy

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_count_threshold() -> None:
    trigger = RetrainTrigger(TriggerPolicy(min_new_labels=100, slice_share=None), Clock())
    assert not trigger.evaluate(LabelStats({"car": 99}, {"car": 500}), T0).due
    decision = trigger.evaluate(LabelStats({"car": 60, "stroller": 40}, {}), T0)
    assert decision.due and decision.reasons == ("100 new labels >= 100",)


def test_slice_share_needs_enough_new_labels() -> None:
    policy = TriggerPolicy(min_new_labels=None, slice_share=0.5, slice_min_new=20)
    trigger = RetrainTrigger(policy, Clock())
    # 19 new stroller labels of 20: a large share of almost nothing
    assert not trigger.evaluate(LabelStats({"stroller": 19}, {"stroller": 20}), T0).due
    # 30 of 50 (60 %) changed the slice a lot; cars' 30 of 1000 did not
    d = trigger.evaluate(LabelStats({"stroller": 30, "car": 30}, {"stroller": 50, "car": 1000}), T0)
    assert d.due and d.reasons == ("slice stroller: 30/50 new (0.60)",)


def test_schedule_with_injected_clock() -> None:
    clock = Clock()
    policy = TriggerPolicy(min_new_labels=None, slice_share=None, interval=timedelta(hours=24))
    trigger = RetrainTrigger(policy, clock)
    last = T0
    clock.now = T0 + timedelta(hours=23)
    d = trigger.evaluate(LabelStats({"car": 1}), last)
    assert not d.due and d.next_due == T0 + timedelta(hours=24)
    clock.now = T0 + timedelta(hours=24)
    assert trigger.evaluate(LabelStats({"car": 1}), last).due
    # nothing new: the schedule does not retrain on the same data
    assert not trigger.evaluate(LabelStats({}), last).due
    assert trigger.next_due(None) == clock.now


def test_explicit_request_and_policy_checks() -> None:
    trigger = RetrainTrigger(TriggerPolicy(), Clock())
    assert trigger.evaluate(LabelStats(), None, requested=True).reasons == ("requested",)
    with pytest.raises(TrainingError, match="slice_share"):
        TriggerPolicy(slice_share=1.5)
    with pytest.raises(TrainingError, match="interval"):
        TriggerPolicy(interval=timedelta(0))


def test_checks_show_every_rule_with_its_figure_and_threshold() -> None:
    clock = Clock()
    policy = TriggerPolicy(
        min_new_labels=100, slice_share=0.5, slice_min_new=20, interval=timedelta(hours=1)
    )
    trigger = RetrainTrigger(policy, clock)
    clock.now = T0 + timedelta(minutes=30)
    stats = LabelStats({"stroller": 30, "car": 40, "dog": 5}, {"stroller": 50, "car": 400})
    d = trigger.evaluate(stats, T0)
    by_rule = {(c.rule, c.slice): c for c in d.checks}
    # dog's 5 new labels are below slice_min_new: its share is not judged at all
    assert set(by_rule) == {
        ("min_new_labels", None),
        ("slice_share", "car"),
        ("slice_share", "stroller"),
        ("schedule", None),
    }
    assert (by_rule["min_new_labels", None].value, by_rule["min_new_labels", None].fires) == (
        75.0,
        False,
    )
    assert by_rule["slice_share", "car"].value == pytest.approx(0.1)
    assert (
        by_rule["slice_share", "stroller"].fires and by_rule["slice_share", "stroller"].value == 0.6
    )
    assert by_rule["schedule", None].value == -1800.0 and not by_rule["schedule", None].fires
    assert d.reasons == tuple(c.reason for c in d.checks if c.fires)
    assert d.reasons == ("slice stroller: 30/50 new (0.60)",)
