"""One turn of the loop after labelling: retrain -> edge-case suite -> gate -> evidence -> canary.

:func:`retrain_and_gate` takes a frozen dataset version and the champion of the registry and

1. retrains from the champion on the version plus replayed earlier data
   (``backend.training.retrain``; the suite's frames are refused by digest), registering the
   candidate only when the run finished; with ``[training] weak_supervision`` the champion first
   labels the unlabelled pool frames (``backend.training.weak.pool``) and those weak labels
   extend the training split;
2. evaluates champion and candidate in the same run on every suite slice
   (``backend.evaluation.compare``) and applies the gate (``backend.release.gate``);
3. stores the verdict and every number behind it as evidence (``backend.release.evidence``),
   after a verdict of the champion alone on the same suite (its floors and ceilings,
   ``gate.assess_champion``), so the safety case of the model the fleet runs has evidence on
   the current suite even when the candidate is blocked; the suite's drift against the fleet's
   recent random monitoring sample (``backend.evaluation.fleet_sample``) is part of the
   verdict, reported, and gated when the gate sets ``max_drift``;
4. starts a canary rollout only when the verdict lets the candidate through (the rollout service
   checks the verdict again: nothing here can skip the gate).

Each stage's wall time is kept (``TurnResult.seconds``): the feedback-loop latency by stage.
:func:`turn_on_accepted_labels` is the turn the retraining trigger and ``POST /training/retrain``
start (``backend.training.scheduler``): a dataset version of every label accepted before a
cutoff, the QA report's class agreement as the label-agreement figure, and the suite, replay and
gate that ``[training]`` names.
The champion package is unpacked from the registry's signed archive (digest and signature
checked), so what is retrained and compared is exactly what the fleet runs.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.auth.people import utcnow
from backend.config import TrainingConfig
from backend.datasets.snapshot import DatasetFilter
from backend.datasets.versions import DatasetVersions
from backend.errors import ConflictError
from backend.evaluation.compare import Comparison, compare_packages
from backend.evaluation.drift import DriftReport, drift_report
from backend.evaluation.fleet_sample import monitoring_statistics
from backend.evaluation.suite import Suite, load_suite, suite_digests
from backend.metadata.repositories.rollouts import CampaignRecord
from backend.metadata.unit_of_work import Database
from backend.release.evidence import record_verdict
from backend.release.gate import (
    DEFAULT_GATE_FILE,
    GateConfig,
    GateVerdict,
    assess_champion,
    evaluate_gate,
    load_gate,
)
from backend.release.health import HealthLimits
from backend.release.registry import CHAMPION, ModelRegistry, require_alias, unpacked_package
from backend.release.rollout import RolloutService
from backend.training.finetune import FinetuneConfig
from backend.training.retrain import (
    Retrainer,
    RunOutcome,
    RunRecord,
    configs_from,
    retrainer_from_config,
)
from backend.training.sets import SetConfig
from backend.training.sources import DriveSource, FrameSource, VersionSource

if TYPE_CHECKING:
    from backend.wiring import Backend

log = logging.getLogger(__name__)

#: fewest recent monitoring-sample frames for the suite's drift to be reported (KS resolution)
MIN_DRIFT_FRAMES = 20


@dataclass(frozen=True)
class CanaryPlan:
    """How a candidate that passed the gate is rolled out."""

    share: float
    limits: HealthLimits
    min_reports: int = 1


@dataclass
class TurnResult:
    """What one turn produced; ``campaign`` is None when the gate failed."""

    run: RunOutcome
    champion: str
    comparison: Comparison
    verdict: GateVerdict
    verdict_id: int
    campaign: CampaignRecord | None
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The figures a person reads first (JSON-safe)."""
        return {
            "champion": self.champion,
            "candidate": self.run.version,
            "promoted_classes": list(self.run.promoted),
            "demoted_classes": list(self.run.demoted),
            "classes": list(self.run.classes),
            "training_set": self.run.record.training_set_digest,
            "weak_objects": dict(self.run.record.weak_objects),
            "mlflow_run_id": self.run.mlflow_run_id,
            "gate_passed": self.verdict.passed,
            "failed_slices": self.verdict.failed_slices,
            "checks": len(self.verdict.checks),
            "verdict_id": self.verdict_id,
            "campaign": None if self.campaign is None else self.campaign.id,
            "canary": [] if self.campaign is None else list(self.campaign.canary_vehicles),
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }


def registry_register(registry: ModelRegistry) -> Callable[[Path, RunRecord], str]:
    """The retrainer's ``register`` callable over the model registry."""

    def register(package_dir: Path, record: RunRecord) -> str:
        version = registry.register(
            package_dir,
            run_id=record.run_id,
            dataset_digest=record.training_set_digest,
            parent_version=record.parent_model,
            metrics={
                "dataset_digests": list(record.dataset_digests),
                "code_version": record.code_version,
                "seed": record.seed,
            },
            actor="retrainer",
        )
        return version.version

    return register


def retrain_and_gate(
    *,
    registry: ModelRegistry,
    rollout: RolloutService,
    versions: DatasetVersions,
    retrainer: Retrainer,
    db: Database,
    dataset_digest: str,
    replay: Sequence[Path],
    suite: Suite,
    gate: GateConfig,
    label_agreement: float | None,
    canary: CanaryPlan,
    work_dir: Path,
    set_config: SetConfig | None = None,
    finetune_config: FinetuneConfig | None = None,
    weak_labels: Callable[[Path], Sequence[FrameSource]] | None = None,
    fleet_statistics: Callable[[], Sequence[Mapping[str, float]]] | None = None,
    clock: Callable[[], datetime],
) -> TurnResult:
    """One turn (see the module docstring); the verdict and its evidence go to ``db``.
    ``weak_labels``, given the champion's package directory, returns the weak sources that
    extend the training split; ``fleet_statistics`` returns the per-frame statistics of the
    fleet's recent unbiased frames, against which the suite's drift is reported (and gated
    with ``max_drift``) when there are at least ``MIN_DRIFT_FRAMES`` of them."""
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    champion_record = require_alias(registry, CHAMPION)
    champion = champion_record.version
    champion_dir = unpacked_package(registry, champion, work_dir / "packages")
    weak: Sequence[FrameSource] = ()
    if weak_labels is not None:
        weak = weak_labels(champion_dir)
        seconds["weak_labels"] = time.perf_counter() - t0
    run = retrainer.run(
        champion_dir,
        [VersionSource(versions, dataset_digest)],
        [DriveSource(d) for d in replay],
        weak=weak,
        set_config=set_config,
        config=finetune_config,
        forbidden=suite_digests(suite),
        suite=f"edge-case suite {suite.version[:12]}",
    )
    seconds.update({f"retrain.{k}": v for k, v in run.seconds.items()})
    seconds["retrain"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    candidate_dir = unpacked_package(registry, run.version, work_dir / "packages")
    comparison = compare_packages(champion_dir, candidate_dir, suite)
    seconds["evaluation"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    drift, fleet = None, None
    if fleet_statistics is not None:
        fleet = fleet_statistics()
        drift = suite_drift([f.stats for f in suite.frames], fleet)
    # the fleet's model on the same suite first, so the candidate's verdict stays the newest
    record_verdict(
        db,
        assess_champion(gate, comparison, dataset_digest=champion_record.dataset_digest or ""),
        run_id=f"{run.record.run_id}:champion",
        at=clock(),
        details={"suite": suite.version, "assessment": "champion alone on the suite"},
    )
    verdict = evaluate_gate(
        gate,
        comparison,
        dataset_digest=run.record.training_set_digest,
        label_agreement=label_agreement,
        drift=drift,
    )
    verdict_id = record_verdict(
        db,
        verdict,
        run_id=run.record.run_id,
        at=clock(),
        details={
            "suite": suite.version,
            "dataset_version": dataset_digest,
            "mlflow_run_id": run.mlflow_run_id,
            # how many of the fleet's monitoring frames the drift had (reported from
            # MIN_DRIFT_FRAMES on); None: no fleet was asked
            "drift_fleet_frames": None if fleet is None else len(fleet),
        },
    )
    seconds["gate"] = time.perf_counter() - t2
    campaign = None
    if verdict.passed:
        t3 = time.perf_counter()
        campaign = rollout.start_campaign(
            run.version,
            canary_share=canary.share,
            health_limits=canary.limits,
            min_canary_reports=canary.min_reports,
            actor="loop",
        )
        seconds["rollout_start"] = time.perf_counter() - t3
    else:
        log.warning("release blocked: %s", verdict.summary())
    log.info("loop turn: %s", verdict.summary().splitlines()[0])
    return TurnResult(run, champion, comparison, verdict, verdict_id, campaign, seconds)


def suite_drift(
    suite: Sequence[Mapping[str, float]], fleet: Sequence[Mapping[str, float]]
) -> DriftReport | None:
    """The drift of the suite's frames against the fleet's (their ``frame_statistics``); None
    (not reported) with too few fleet frames."""
    if len(fleet) < MIN_DRIFT_FRAMES:
        log.info(
            "suite drift not reported: %d recent monitoring frames, %d needed",
            len(fleet),
            MIN_DRIFT_FRAMES,
        )
        return None
    return drift_report(suite, fleet)


def run_turn(
    backend: Backend,
    *,
    dataset_digest: str,
    replay: Sequence[Path],
    suite: Suite,
    gate: GateConfig,
    label_agreement: float | None,
    canary_share: float | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> TurnResult:
    """:func:`retrain_and_gate` wired from a backend's configuration: ``[training]`` (worker
    process or Ray, MLflow, epochs...) and ``[release]`` (canary share, health limits)."""
    config = backend.config
    release = backend.release
    set_config, finetune_config = configs_from(config.training)
    weak_labels = None
    if config.training.weak_supervision:
        weak_labels = _pool_labeller(backend, Path(config.training.dir) / "weak")
    return retrain_and_gate(
        registry=release.registry,
        rollout=release.rollout,
        versions=DatasetVersions(backend.db, backend.blobs, clock),
        retrainer=retrainer_from_config(
            config.training, registry_register(release.registry), clock
        ),
        db=backend.db,
        dataset_digest=dataset_digest,
        replay=replay,
        suite=suite,
        gate=gate,
        label_agreement=label_agreement,
        canary=CanaryPlan(
            canary_share if canary_share is not None else release.config.canary_share,
            release.default_limits(),
            release.config.min_canary_reports,
        ),
        work_dir=Path(config.training.dir) / "turns",
        set_config=set_config,
        finetune_config=finetune_config,
        weak_labels=weak_labels,
        fleet_statistics=lambda: monitoring_statistics(backend.db, backend.blobs),
        clock=clock,
    )


def _pool_labeller(backend: Backend, out: Path) -> Callable[[Path], Sequence[FrameSource]]:
    """Weak labels of the unlabelled pool with a champion package, as ``[training]`` asks."""
    from backend.training.weak.functions import VoteSettings
    from backend.training.weak.labeller import WeakSettings
    from backend.training.weak.pool import label_pool

    training = backend.config.training

    def label(champion_dir: Path) -> Sequence[FrameSource]:
        labels = label_pool(
            backend.db,
            backend.blobs,
            champion_dir,
            out,
            WeakSettings(VoteSettings(), training.weak_min_posterior),
            max_frames=training.weak_max_frames,
        )
        log.info(
            "weak labels: %d drives from %s pool frames, objects %s",
            len(labels.sources),
            labels.report.get("frames", 0),
            labels.report.get("weak_objects", {}),
        )
        return labels.sources

    return label


def turn_blocker(config: TrainingConfig) -> str | None:
    """Why :func:`turn_on_accepted_labels` cannot run with ``config`` (None when it can)."""
    if not config.suite:
        return "no edge-case suite is configured ([training] suite)"
    if not Path(config.suite).is_file():
        return f"the edge-case suite {config.suite} ([training] suite) does not exist"
    missing = [d for d in config.replay if not Path(d).is_dir()]
    if missing:
        return f"replay drives {missing} ([training] replay) do not exist"
    if config.gate and not Path(config.gate).is_file():
        return f"the gate file {config.gate} ([training] gate) does not exist"
    return None


def turn_on_accepted_labels(
    backend: Backend,
    labels_cutoff: datetime,
    name: str,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> dict[str, Any]:
    """One turn on every label accepted before ``labels_cutoff``: the dataset version
    ``name`` of them (or the existing version of the same content), the QA report's class
    agreement (Krippendorff's alpha over the overlap tasks; None before there is one), and
    ``[training]``'s suite, replay drives and gate; returns the turn's summary."""
    from backend.annotation.reports import report

    config = backend.config.training
    blocked = turn_blocker(config)
    if blocked is not None:
        raise ConflictError(f"cannot start a retraining turn: {blocked}")
    versions = DatasetVersions(backend.db, backend.blobs, clock)
    built = versions.build(DatasetFilter(accepted_to=labels_cutoff), author="retrainer", name=name)
    with backend.db.transaction("read the QA report for a retraining turn") as uow:
        alpha = report(uow, backend.config.annotation, clock()).batch.krippendorff_alpha_class
    result = run_turn(
        backend,
        dataset_digest=built.version.digest,
        replay=[Path(d) for d in config.replay],
        suite=load_suite(config.suite),
        gate=load_gate(config.gate or DEFAULT_GATE_FILE),
        label_agreement=None if math.isnan(alpha) else float(alpha),
        clock=clock,
    )
    return {**result.summary(), "dataset_version": built.version.digest, "label_agreement": alpha}
