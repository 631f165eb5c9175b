"""The QA report and the operations KPIs as Prometheus metrics (one private registry per
scrape: no global state).

Operations metrics (``ops``; ``backend.ops.kpis`` defines each figure; seconds, frame scores in
[0, 1]); a figure with nothing to measure is left out, never exported as NaN. Per loop, the
labels name the candidate ``model_version``; when a version was gated twice its newest loop
wins.

=========================================  =================================================
``longtail_agreement_window_alpha_class``  class agreement (alpha) of the newest window's
                                           overlap objects; ``..._objects``: how many
``longtail_loop_delta``                    candidate - champion per ``metric`` on the whole
                                           suite; ``..._lower`` / ``..._upper``: 95 % interval
``longtail_loop_gate_passed``              1 when the loop's gate verdict passed
``longtail_loop_latency_seconds``          per ``stage`` (and ``last_label_to_decision``)
``longtail_captured_frames_total``         frames stored per ``trigger`` and ``model_version``
``longtail_analysed_frames_total``         frames the vehicles analysed per ``model_version``
``longtail_capture_rate``                  captured / analysed per ``trigger`` and version
``longtail_score_sample_frames``           random-sample frames per ``model_version``;
                                           ``longtail_score_sample`` their ``quantile``
                                           (0.5, 0.95) and ``longtail_score_sample_mean``
``longtail_score_drift_ks``                KS distance from the ``reference`` version's sample
``longtail_fleet_score``                   newest health report's ``stat`` (mean, p95) per
                                           ``vehicle`` and ``model_version``
=========================================  =================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from backend.annotation.reports import QaReport
from backend.ops.service import OpsReport


def _set(gauge: Gauge, value: float, **labels: str) -> None:
    if math.isfinite(value):
        (gauge.labels(**labels) if labels else gauge).set(value)


class OpsCollector(Collector):
    """The operations KPIs of one report as metric families (see the module docstring)."""

    def __init__(self, ops: OpsReport) -> None:
        self._ops = ops

    def collect(self) -> Iterator[Metric]:
        ops = self._ops
        window = GaugeMetricFamily(
            "longtail_agreement_window_alpha_class",
            "Krippendorff alpha of the class votes of the newest window's overlap objects",
        )
        objects = GaugeMetricFamily(
            "longtail_agreement_window_objects", "overlap objects finished in the newest window"
        )
        if ops.agreement:
            newest = ops.agreement[-1]
            objects.add_metric([], newest.objects)
            if newest.alpha is not None:
                window.add_metric([], newest.alpha)
        yield window
        yield objects
        yield from self._loops()
        yield from self._capture()
        yield from self._scores()

    def _loops(self) -> Iterator[Metric]:
        labels = ["model_version", "champion_version", "metric"]
        delta = GaugeMetricFamily(
            "longtail_loop_delta", "candidate - champion on the whole suite", labels=labels
        )
        lower = GaugeMetricFamily(
            "longtail_loop_delta_lower", "lower end of the 95 % interval", labels=labels
        )
        upper = GaugeMetricFamily(
            "longtail_loop_delta_upper", "upper end of the 95 % interval", labels=labels
        )
        passed = GaugeMetricFamily(
            "longtail_loop_gate_passed", "1 when the gate verdict passed", labels=["model_version"]
        )
        newest: dict[tuple[str, ...], float] = {}
        bounds: dict[tuple[str, ...], tuple[float | None, float | None]] = {}
        verdicts: dict[str, bool] = {}
        for loop in self._ops.loops:
            verdicts[loop.model_version] = loop.passed
            for d in loop.deltas:
                key = (loop.model_version, loop.champion_version, d.metric)
                newest.pop(key, None)
                if d.value is not None:
                    newest[key] = d.value
                bounds[key] = (d.lo, d.hi)
        for series, value in newest.items():
            delta.add_metric(list(series), value)
            lo, hi = bounds[series]
            if lo is not None:
                lower.add_metric(list(series), lo)
            if hi is not None:
                upper.add_metric(list(series), hi)
        for version, ok in verdicts.items():
            passed.add_metric([version], 1.0 if ok else 0.0)
        latency = GaugeMetricFamily(
            "longtail_loop_latency_seconds",
            "feedback-loop latency of the loop by stage",
            labels=["model_version", "stage"],
        )
        stages: dict[tuple[str, str], float] = {}
        for loop_latency in self._ops.latency:
            figures = {
                **loop_latency.stages,
                "last_label_to_decision": loop_latency.last_label_to_decision,
            }
            for stage, seconds in figures.items():
                stages.pop((loop_latency.model_version, stage), None)
                if seconds is not None:
                    stages[(loop_latency.model_version, stage)] = seconds
        for (version, stage), seconds in stages.items():
            latency.add_metric([version, stage], seconds)
        yield from (delta, lower, upper, passed, latency)

    def _capture(self) -> Iterator[Metric]:
        labels = ["trigger", "model_version"]
        captured = CounterMetricFamily(
            "longtail_captured_frames", "frames stored per trigger", labels=labels
        )
        rate = GaugeMetricFamily(
            "longtail_capture_rate", "frames stored per frame analysed", labels=labels
        )
        analysed = CounterMetricFamily(
            "longtail_analysed_frames",
            "frames the vehicles analysed (their health reports)",
            labels=["model_version"],
        )
        versions: dict[str, int] = {}
        for c in self._ops.capture:
            captured.add_metric([c.trigger, c.model_version], c.frames_stored)
            versions[c.model_version] = c.frames_analysed
            if c.rate is not None:
                rate.add_metric([c.trigger, c.model_version], c.rate)
        for version, frames in versions.items():
            analysed.add_metric([version], frames)
        yield from (captured, rate, analysed)

    def _scores(self) -> Iterator[Metric]:
        frames = GaugeMetricFamily(
            "longtail_score_sample_frames",
            "random-sample frames of the model version",
            labels=["model_version"],
        )
        quantile = GaugeMetricFamily(
            "longtail_score_sample",
            "quantile of the random sample's frame scores",
            labels=["model_version", "quantile"],
        )
        mean = GaugeMetricFamily(
            "longtail_score_sample_mean",
            "mean of the random sample's frame scores",
            labels=["model_version"],
        )
        ks = GaugeMetricFamily(
            "longtail_score_drift_ks",
            "Kolmogorov-Smirnov distance from the reference version's sample",
            labels=["model_version", "reference"],
        )
        for d in self._ops.drift:
            frames.add_metric([d.model_version], d.frames)
            for q, value in (("0.5", d.p50), ("0.95", d.p95)):
                if value is not None:
                    quantile.add_metric([d.model_version, q], value)
            if d.mean is not None:
                mean.add_metric([d.model_version], d.mean)
            if d.ks is not None:
                ks.add_metric([d.model_version, d.reference], d.ks)
        fleet = GaugeMetricFamily(
            "longtail_fleet_score",
            "frame score of the newest health report",
            labels=["vehicle", "model_version", "stat"],
        )
        newest = {(s.vehicle, s.model_version): s for s in self._ops.fleet_scores}
        for (vehicle, version), s in newest.items():
            fleet.add_metric([vehicle, version, "mean"], s.score_mean)
            fleet.add_metric([vehicle, version, "p95"], s.score_p95)
        yield from (frames, quantile, mean, ks, fleet)


def exposition(qa: QaReport, ops: OpsReport | None = None) -> tuple[bytes, str]:
    """The exposition text of ``qa`` (and of ``ops`` when given) and its content type."""
    registry = CollectorRegistry()
    if ops is not None:
        registry.register(OpsCollector(ops))
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
        "reviews_per_hour": Gauge(
            "longtail_person_reviews_per_hour",
            "reviews decided per active review hour",
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
