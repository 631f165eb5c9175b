"""The operations KPIs over the metadata database (read only): gathers the records
``backend.ops.kpis`` computes from, in one unit of work, plus the manifests of the dataset
versions the loops trained on (from the blob store, checked against their digests).

Computed from the records on each call, like the QA report: fine for one deployment's history of
loops (tens of verdicts, hundreds of thousands of frames); the frame and report reads are capped
(``max_frames``, ``max_reports``) so a long-lived fleet cannot make one call unbounded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final

from backend.datasets.versions import DatasetVersions
from backend.errors import NotFoundError, StorageError
from backend.metadata.unit_of_work import Database, UnitOfWork
from backend.ops.kpis import (
    AgreementPoint,
    CaptureRate,
    FleetScore,
    LoopDelta,
    LoopFacts,
    LoopLatency,
    ScoreDrift,
    agreement_over_time,
    campaign_of,
    capture_rates,
    fleet_scores,
    loop_delta,
    loop_latency,
    score_drift,
)

log = logging.getLogger(__name__)

#: the newest gate verdicts (loops) read
LOOPS: Final = 100


@dataclass(frozen=True)
class OpsReport:
    """Every operations KPI at ``at`` (see ``backend.ops.kpis``); loops oldest first."""

    at: datetime
    agreement: list[AgreementPoint]
    loops: list[LoopDelta]
    latency: list[LoopLatency]
    capture: list[CaptureRate]
    drift: list[ScoreDrift]
    fleet_scores: list[FleetScore]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class OpsService:
    """The KPIs over ``db``; ``datasets`` reads the manifests of the loops' dataset versions."""

    def __init__(
        self,
        db: Database,
        datasets: DatasetVersions,
        clock: Callable[[], datetime],
        *,
        buckets: int = 12,
        max_frames: int = 200_000,
        max_reports: int = 100_000,
    ) -> None:
        self._db = db
        self._datasets = datasets
        self._clock = clock
        self._buckets = buckets
        self._max_frames = max_frames
        self._max_reports = max_reports

    def _task_ids(self, digest: str) -> list[int] | None:
        """The task ids of a dataset version's manifest; None when it cannot be read."""
        try:
            return [t.id for t in self._datasets.manifest(digest).tasks]
        except (NotFoundError, StorageError) as exc:
            log.warning("loop latency without the tasks of dataset %s: %s", digest, exc)
            return None

    def kpis(self) -> OpsReport:
        """Every KPI, computed now."""
        with self._db.transaction("read the operations figures") as uow:
            verdicts, _ = uow.evidence.verdicts(limit=LOOPS)
            # a loop gates a candidate against its champion; a champion judged alone is none
            verdicts = [v for v in reversed(verdicts) if v.model_version != v.champion_version]
            loops = [loop_delta(v, uow.evidence.evidence(v.id)) for v in verdicts]
            facts = uow.frames.capture_facts(self._max_frames)
            reports = uow.rollouts.report_history(self._max_reports)
            votes = uow.votes.recent()
            campaigns, _ = uow.rollouts.page(limit=1000)
            run_seconds = _run_seconds(uow)
            digests = {v.id: _dataset_of(v.details) for v in verdicts}
            created = {
                d: record.created_at
                for d in set(digests.values())
                if d is not None and (record := uow.datasets.get(d)) is not None
            }
            tasks = {t.id: t for t in uow.tasks.all()}
        manifests = {d: self._task_ids(d) for d in created}
        received = {f.id: f.received_at for f in facts}
        latency = []
        for v in verdicts:
            digest = digests[v.id]
            ids = manifests.get(digest) if digest is not None else None
            latency.append(
                loop_latency(
                    LoopFacts(
                        verdict=v,
                        dataset_digest=digest,
                        dataset_created_at=created.get(digest) if digest else None,
                        tasks=[tasks[i] for i in ids or [] if i in tasks],
                        frame_received=received,
                        campaign=campaign_of(v, campaigns),
                        run_seconds=run_seconds.get(v.id, {}),
                    )
                )
            )
        return OpsReport(
            at=self._clock(),
            agreement=agreement_over_time(votes, self._buckets),
            loops=loops,
            latency=latency,
            capture=capture_rates(facts, reports),
            drift=score_drift(facts),
            fleet_scores=fleet_scores(reports),
        )


def _dataset_of(details: dict[str, Any]) -> str | None:
    """The dataset version a verdict's loop trained on (``retrain_and_gate`` records it)."""
    digest = details.get("dataset_version")
    return digest if isinstance(digest, str) and digest else None


def _run_seconds(uow: UnitOfWork) -> dict[int, dict[str, float]]:
    """Per verdict id, the wall times by step that its training run recorded (seconds)."""
    out: dict[int, dict[str, float]] = {}
    for run in uow.training_runs.list(limit=LOOPS):
        seconds = (run.summary or {}).get("seconds")
        if run.verdict_id is not None and isinstance(seconds, dict):
            out[run.verdict_id] = {
                str(k): float(v) for k, v in seconds.items() if isinstance(v, int | float)
            }
    return out
