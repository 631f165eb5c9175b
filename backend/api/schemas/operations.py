"""Schemas of ``/ops``: the loop's operations KPIs (``backend.ops.kpis`` defines each figure).
Durations are seconds, scores the vehicle's frame score in [0, 1], rates captured frames per
analysed frame; a figure with nothing to measure is null."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from backend.ops.service import OpsReport


class AgreementPointOut(BaseModel):
    """One window of the overlap annotations' class agreement (Krippendorff's alpha)."""

    start: datetime
    end: datetime
    objects: int = Field(description="overlap objects finished in the window")
    alpha: float | None = Field(description="alpha of the window's objects")
    objects_so_far: int
    alpha_so_far: float | None = Field(description="alpha of every object finished by the end")


class MetricDeltaOut(BaseModel):
    """Candidate - champion of one metric on the whole suite, with its 95 % interval."""

    metric: str
    value: float | None
    lo: float | None
    hi: float | None
    threshold: float | None = Field(description="the gate's bound on the difference")
    margin: float | None
    passed: bool | None


class LoopDeltaOut(BaseModel):
    """One loop: the gate's verdict on a candidate against its champion."""

    verdict_id: int
    at: datetime
    model_version: str
    champion_version: str
    passed: bool
    bypassed: bool
    failed_slices: list[str]
    deltas: list[MetricDeltaOut]


class LoopLatencyOut(BaseModel):
    """One loop's latency by stage (seconds): upload_to_task, labelling (medians over the
    dataset version's tasks), label_to_dataset, dataset_to_verdict, verdict_to_canary, canary."""

    verdict_id: int
    model_version: str
    dataset_digest: str | None
    tasks: int
    stages: dict[str, float | None]
    last_label_to_decision: float | None = Field(
        description="newest label of the dataset to the fleet's decision (or the verdict)"
    )
    decision: str = Field(description="promoted, rolled_back, canary, or verdict (no canary)")
    run_seconds: dict[str, float] = Field(description="the training run's own steps, if any")


class CaptureRateOut(BaseModel):
    trigger: str = Field(description="the rule name; context frames count as 'context'")
    model_version: str
    frames_stored: int
    frames_analysed: int = Field(description="frames the vehicles' health reports counted")
    rate: float | None = Field(description="frames_stored / frames_analysed")


class ScoreDriftOut(BaseModel):
    """A model version's random-sample frame scores against the reference version's."""

    model_version: str
    reference: str
    frames: int
    mean: float | None
    p50: float | None
    p95: float | None
    ks: float | None = Field(description="two-sample Kolmogorov-Smirnov distance (0 = same)")


class FleetScoreOut(BaseModel):
    """One health report: frame-score summary over every frame the vehicle analysed in it."""

    at: datetime
    vehicle: str
    model_version: str
    frames: int
    score_mean: float
    score_p95: float


class OpsOut(BaseModel):
    """Every operations KPI, loops oldest first."""

    at: datetime
    agreement: list[AgreementPointOut]
    loops: list[LoopDeltaOut]
    latency: list[LoopLatencyOut]
    capture: list[CaptureRateOut]
    drift: list[ScoreDriftOut]
    fleet_scores: list[FleetScoreOut]

    @classmethod
    def of(cls, report: OpsReport) -> OpsOut:
        return cls.model_validate(report.as_dict())
