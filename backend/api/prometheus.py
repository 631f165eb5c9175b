"""The QA report as Prometheus metrics (one private registry per scrape: no global state)."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from backend.annotation.reports import QaReport


def _set(gauge: Gauge, value: float, **labels: str) -> None:
    if math.isfinite(value):
        (gauge.labels(**labels) if labels else gauge).set(value)


def exposition(qa: QaReport) -> tuple[bytes, str]:
    """The exposition text of ``qa`` and its content type."""
    registry = CollectorRegistry()
    person = ("user", "role")
    gauges = {
        "gold_accuracy": Gauge(
            "longtail_person_gold_accuracy",
            "mean accuracy on gold tasks",
            person,
            registry=registry,
        ),
        "boxes_per_hour": Gauge(
            "longtail_person_boxes_per_hour",
            "boxes submitted per active hour",
            person,
            registry=registry,
        ),
        "tasks_per_hour": Gauge(
            "longtail_person_tasks_per_hour",
            "tasks submitted per active hour",
            person,
            registry=registry,
        ),
        "consensus_agreement": Gauge(
            "longtail_person_consensus_agreement",
            "accuracy against the consensus of overlap tasks",
            person,
            registry=registry,
        ),
        "rejection_rate": Gauge(
            "longtail_person_rejection_rate",
            "share of submissions rejected in review",
            person,
            registry=registry,
        ),
        "reviewer_accuracy": Gauge(
            "longtail_person_reviewer_accuracy",
            "share of right decisions on hidden gold reviews",
            person,
            registry=registry,
        ),
    }
    flagged = Gauge(
        "longtail_person_flagged",
        "1 when the gold checks flagged the person",
        person,
        registry=registry,
    )
    for p in qa.people:
        for name, gauge in gauges.items():
            _set(gauge, getattr(p, name), user=p.name, role=p.role)
        flagged.labels(user=p.name, role=p.role).set(1.0 if p.calibration == "flagged" else 0.0)
    tier_labels = ("tier",)
    tasks = Gauge("longtail_tier_tasks", "tasks routed to the tier", tier_labels, registry=registry)
    waiting = Gauge(
        "longtail_tier_waiting_tasks",
        "tasks of the tier not yet accepted",
        tier_labels,
        registry=registry,
    )
    decision = Gauge(
        "longtail_tier_time_to_decision_seconds",
        "creation to acceptance",
        ("tier", "quantile"),
        registry=registry,
    )
    age = Gauge(
        "longtail_tier_queue_age_seconds",
        "age of the waiting tasks",
        ("tier", "quantile"),
        registry=registry,
    )
    for t in qa.tiers:
        tasks.labels(tier=str(t.tier)).set(t.tasks)
        waiting.labels(tier=str(t.tier)).set(t.waiting)
        _set(decision, t.time_to_decision_p50_s, tier=str(t.tier), quantile="0.5")
        _set(decision, t.time_to_decision_p90_s, tier=str(t.tier), quantile="0.9")
        _set(age, t.queue_age_p50_s, tier=str(t.tier), quantile="0.5")
        _set(age, t.queue_age_max_s, tier=str(t.tier), quantile="1")
    stages = Gauge("longtail_tasks", "tasks by stage", ("stage",), registry=registry)
    for stage, count in qa.stages.items():
        stages.labels(stage=stage).set(count)
    agreement = Gauge(
        "longtail_batch_agreement",
        "agreement of the overlap annotations",
        ("measure",),
        registry=registry,
    )
    _set(agreement, qa.batch.fleiss_kappa, measure="fleiss_kappa_class")
    _set(agreement, qa.batch.krippendorff_alpha_class, measure="krippendorff_alpha_class")
    for parameter, value in qa.batch.krippendorff_alpha_box.items():
        _set(agreement, value, measure=f"krippendorff_alpha_{parameter}")
    return generate_latest(registry), CONTENT_TYPE_LATEST
