"""Re-scoring after each new model: the pending tasks' key frames through the champion's runtime,
and their queue in the active-learning order (``backend.annotation.active``).

One *run* (:meth:`ActiveRescorer.run`):

1. the champion's version (none: nothing to do);
2. every pending task (``backend.metadata.repositories.task_scores``: at ``annotate``, nobody
   has opened it, not gold, calibration or a spot check) whose key frame has no score from this
   champion with this score setting (all of them when forced) is run through the vehicle's own
   analyzer of the champion package (``backend.annotation.active_runtime``), ``chunk`` frames per
   transaction, progress logged after each; a frame whose payload cannot be read or scored is
   stored with no candidates (logged, counted), so it is not retried every run;
3. in one transaction, the pending tasks with a current score are ordered (``active_order``;
   the tasks in progress that this champion scored while they were pending are its anchors:
   embeddings of different models are not comparable) and trade their builder priorities so
   that the queue, sorted by priority, follows the order (``strict_priorities``): the scale of the priorities,
   and so their standing against tasks in progress, new unscored tasks and the review stage,
   stays the builder's. A task opened meanwhile keeps its priority (the update checks). The run
   is audited (``queue.rescored``).

When: the serving process runs :meth:`ActiveRescorer.tick` as a periodic job, which finds a new
champion (or new pending tasks) from the database itself, so a promotion by any process (the
CLI, another replica) is seen after at most ``[active] interval_s``. In the serving process the
registry's promotion hook (:func:`wake_on_promote`) also wakes that job as soon as the
promotion has committed. The hook only arranges for an in-memory event to be set after the
commit: the promotion's transaction does no scoring and cannot fail or slow down because of it,
and a promotion that rolls back wakes nothing.
``POST /tasks/queue/priorities`` forces a run on a thread of its own (:meth:`request`). Runs in
one process never overlap (a lock); replicas may score the same frames twice, which stores the
same numbers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import event

from agent.errors import ScoringError
from backend.annotation.active import (
    NO_KIND,
    ActiveWeights,
    FrameFeature,
    active_order,
    frame_feature,
    strict_priorities,
)
from backend.annotation.active_runtime import FrameRuntime
from backend.config import ActiveConfig
from backend.errors import ConflictError, InvalidInputError, NotFoundError
from backend.metadata.repositories.task_scores import (
    FrameScore,
    PendingTask,
    Placement,
    TaskScoreRecord,
)
from backend.metadata.unit_of_work import Database, UnitOfWork
from backend.storage.base import BlobNotFoundError, BlobStore
from core.errors import FormatError
from core.formats.codec import decode_frame

log = logging.getLogger(__name__)

ACTOR = "active-learning"


def wake_on_promote(wake: threading.Event) -> Callable[[UnitOfWork, str, str, datetime], None]:
    """The registry's promotion hook (``ModelRegistry(on_promote=...)``): it sets ``wake``, the
    event of the periodic re-scoring job, once the promotion's transaction has committed (the
    job must find the new champion; a promotion rolled back wakes nothing), and does nothing
    else inside the transaction."""

    def hook(uow: UnitOfWork, version: str, actor: str, _now: datetime) -> None:
        def committed(_session: object) -> None:
            log.info("model %s promoted by %s: re-scoring the pending tasks", version, actor)
            wake.set()

        event.listen(uow.session, "after_commit", committed, once=True)

    return hook


def weights_of(config: ActiveConfig) -> ActiveWeights:
    """The order's weights of ``[active]``."""
    return ActiveWeights(
        uncertainty=config.weight_uncertainty,
        diversity=config.weight_diversity,
        kind_balance=config.weight_kind,
        max_kind_share=config.max_kind_share,
        batch_size=config.batch_size,
    )


def score_setting(config: ActiveConfig) -> str:
    """What a stored score was computed with besides the model (``mutual_info/foreground``)."""
    return f"{config.score}/{config.candidates}"


def embedding_bytes(vector: npt.NDArray[np.float32] | None) -> bytes | None:
    return None if vector is None else np.asarray(vector, dtype="<f4").tobytes()


def embedding_of(data: bytes | None) -> npt.NDArray[np.float32] | None:
    return None if data is None else np.frombuffer(data, dtype="<f4").astype(np.float32)


@dataclass(frozen=True)
class RescoreReport:
    """What one run did: the champion it scored with (None: there was none), pending tasks,
    frames scored (``unreadable`` of them stored without candidates), tasks placed, seconds."""

    trigger: str
    actor: str
    model_version: str | None
    started_at: datetime
    finished_at: datetime
    pending: int = 0
    scored: int = 0
    unreadable: int = 0
    placed: int = 0
    seconds: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class QueueEntry:
    """A pending task, its stored score (None: not scored yet) and whether that score is the
    current champion's with the current setting."""

    task: PendingTask
    score: TaskScoreRecord | None
    current: bool


@dataclass(frozen=True)
class QueueView:
    """The pending tasks in queue order (priority, then id) with their scores."""

    champion: str | None
    setting: str
    weights: ActiveWeights
    running: bool
    last: RescoreReport | None
    entries: list[QueueEntry] = field(default_factory=list)


class ActiveRescorer:
    """Re-scores pending tasks with the champion and orders their queue (module docstring).

    ``champion()`` names the champion's version (None without one); ``runtime_for(version)``
    builds its runtime (kept while the champion stays)."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        config: ActiveConfig,
        *,
        champion: Callable[[], str | None],
        runtime_for: Callable[[str], FrameRuntime],
        clock: Callable[[], datetime],
        wake: threading.Event | None = None,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._config = config
        self._weights = weights_of(config)
        self._champion = champion
        self._runtime_for = runtime_for
        self._clock = clock
        self.wake = wake if wake is not None else threading.Event()
        self._run_lock = threading.Lock()
        self._state = threading.Lock()
        self._runtime: FrameRuntime | None = None
        self._thread: threading.Thread | None = None
        self._last: RescoreReport | None = None

    @property
    def last(self) -> RescoreReport | None:
        """The report of the latest run in this process."""
        return self._last

    @property
    def running(self) -> bool:
        return self._run_lock.locked()

    def tick(self) -> RescoreReport | None:
        """The periodic job: a run unless one is going on (None then)."""
        if not self._run_lock.acquire(blocking=False):
            return None
        try:
            return self._reported(force=False, trigger="periodic", actor=ACTOR)
        finally:
            self._run_lock.release()

    def run(
        self, *, force: bool = False, trigger: str = "call", actor: str = ACTOR
    ) -> RescoreReport:
        """One run (module docstring), after any run in progress; ``force`` re-scores every
        pending task, not only those without a current score."""
        with self._run_lock:
            return self._reported(force=force, trigger=trigger, actor=actor)

    def _reported(self, *, force: bool, trigger: str, actor: str) -> RescoreReport:
        """A run whose failure is kept as the latest report (and raised)."""
        started = self._clock()
        try:
            return self._run_locked(force=force, trigger=trigger, actor=actor)
        except Exception as exc:
            self._last = RescoreReport(trigger, actor, None, started, self._clock(), error=str(exc))
            raise

    def request(self, actor: str) -> RescoreReport:
        """Start a forced run on a thread of its own; ConflictError while one is requested and
        not finished, or when no model is the champion. Returns the run's opening report."""
        with self._state:
            if self._thread is not None and self._thread.is_alive():
                raise ConflictError("a re-scoring of the pending tasks is already running")
            version = self._champion()
            if version is None:
                raise ConflictError("no model is the champion: there is nothing to score with")
            now = self._clock()
            with self._db.transaction("count pending tasks") as uow:
                pending = len(uow.task_scores.pending())
            self._thread = threading.Thread(
                target=self._background, args=(actor,), name="active-rescore", daemon=True
            )
            self._thread.start()
        return RescoreReport("request", actor, version, now, now, pending=pending)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for the requested run; True when none is running (any more)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            return not thread.is_alive()
        return True

    def _background(self, actor: str) -> None:
        try:
            self.run(force=True, trigger="request", actor=actor)
        except Exception:  # a background run reports (``last``), it does not kill the process
            log.exception("requested re-scoring failed")

    def _run_locked(self, *, force: bool, trigger: str, actor: str) -> RescoreReport:
        started, t0 = self._clock(), time.perf_counter()
        version = self._champion()
        if version is None:
            report = RescoreReport(trigger, actor, None, started, self._clock())
            self._last = report
            return report
        setting = score_setting(self._config)
        with self._db.transaction("find pending tasks to score") as uow:
            pending = uow.task_scores.pending()
            stored = uow.task_scores.of_tasks(p.task_id for p in pending)
        todo = [
            p for p in pending if force or not _is_current(stored.get(p.task_id), version, setting)
        ]
        scored, unreadable = self._score(todo, version, setting) if todo else (0, 0)
        unplaced = any(_unplaced(stored.get(p.task_id), version, setting) for p in pending)
        placed = (
            self._order(version, setting, actor, trigger, scored)
            if todo or force or unplaced or trigger != "periodic"
            else 0
        )
        report = RescoreReport(
            trigger,
            actor,
            version,
            started,
            self._clock(),
            pending=len(pending),
            scored=scored,
            unreadable=unreadable,
            placed=placed,
            seconds=time.perf_counter() - t0,
        )
        self._last = report
        if scored or trigger != "periodic":
            log.info(
                "active learning with %s: %d pending tasks, %d frames scored (%d unreadable), "
                "%d placed in %.1f s",
                version,
                report.pending,
                scored,
                unreadable,
                placed,
                report.seconds,
            )
        return report

    def _runtime_of(self, version: str) -> FrameRuntime:
        if self._runtime is None or self._runtime.version != version:
            self._runtime = None  # let the old model go before the new one loads
            self._runtime = self._runtime_for(version)
            if self._runtime.version != version:
                raise ConflictError(
                    f"the champion package {version} loads as model {self._runtime.version}"
                )
        return self._runtime

    def _score(self, todo: Sequence[PendingTask], version: str, setting: str) -> tuple[int, int]:
        runtime = self._runtime_of(version)
        with self._db.transaction("read the pending tasks' frames") as uow:
            frames = uow.frames.get_many([p.key_frame_id for p in todo])
        done = unreadable = 0
        t0 = time.perf_counter()
        chunk = self._config.chunk
        for start in range(0, len(todo), chunk):
            rows: list[tuple[FrameScore, float]] = []
            for task in todo[start : start + chunk]:
                feature = FrameFeature(0.0, None, NO_KIND, 0)
                frame = frames.get(task.key_frame_id)
                try:
                    if frame is None:
                        raise NotFoundError(f"frame {task.key_frame_id} is not stored")
                    points = decode_frame(
                        self._blobs.get(frame.blob_key), source=f"frame {frame.id}"
                    )
                    feature = frame_feature(runtime(points))
                except (
                    FormatError,
                    NotFoundError,
                    BlobNotFoundError,
                    InvalidInputError,
                    ScoringError,
                ) as exc:
                    log.error(
                        "task %d: key frame not scored, stored without candidates: %s",
                        task.task_id,
                        exc,
                    )
                    unreadable += 1
                rows.append(
                    (
                        FrameScore(
                            task_id=task.task_id,
                            frame_id=task.key_frame_id,
                            model_version=version,
                            score_name=setting,
                            scored_at=self._clock(),
                            candidates=feature.candidates,
                            uncertainty=feature.uncertainty,
                            kind=feature.kind,
                            embedding=embedding_bytes(feature.embedding),
                        ),
                        task.priority,
                    )
                )
            with self._db.transaction(f"store {len(rows)} frame scores") as uow:
                for score, priority in rows:
                    uow.task_scores.save(score, priority)
            done += len(rows)
            elapsed = time.perf_counter() - t0
            log.info(
                "re-scored %d/%d pending frames with %s (%.1f frames/s)",
                done,
                len(todo),
                version,
                done / elapsed if elapsed > 0 else float("inf"),
            )
        return done, unreadable

    def _order(self, version: str, setting: str, actor: str, trigger: str, scored: int) -> int:
        """Place the pending tasks with a current score (module docstring); the count placed."""
        now = self._clock()
        with self._db.transaction("order the pending tasks") as uow:
            pending = uow.task_scores.pending()
            opened = uow.task_scores.in_progress()
            stored = uow.task_scores.of_tasks([*(p.task_id for p in pending), *opened])
            current = [p for p in pending if _is_current(stored.get(p.task_id), version, setting)]
            if not current:
                return 0
            records = [stored[p.task_id] for p in current]
            features = [
                FrameFeature(
                    r.score.uncertainty,
                    embedding_of(r.score.embedding),
                    r.score.kind,
                    r.score.candidates,
                )
                for r in records
            ]
            anchors = [
                vector
                for task_id in opened
                if _is_current(stored.get(task_id), version, setting)
                and (vector := embedding_of(stored[task_id].score.embedding)) is not None
            ]
            order = active_order(features, self._weights, anchors=anchors)
            priorities = strict_priorities([r.builder_priority for r in records])
            placed = 0
            for position, index in enumerate(order.order.tolist()):
                distance = float(order.distance[index])
                placed += uow.task_scores.place(
                    Placement(
                        task_id=current[index].task_id,
                        queue_rank=position,
                        queue_batch=int(order.batch[index]),
                        uncertainty_norm=float(order.uncertainty_norm[index]),
                        distance=None if np.isnan(distance) else distance,
                        diversity=float(order.diversity[index]),
                        same_kind=int(order.same_kind[index]),
                        value=float(order.value[index]),
                        priority=priorities[position],
                    ),
                    now,
                )
            uow.audit.record(
                now,
                actor,
                "queue.rescored",
                details={
                    "model_version": version,
                    "setting": setting,
                    "trigger": trigger,
                    "scored": scored,
                    "placed": placed,
                    "anchors": len(anchors),
                    "first": [current[i].task_id for i in order.order[:10].tolist()],
                },
            )
        return placed

    def queue(self) -> QueueView:
        """The pending tasks in queue order with their scores (``GET /tasks/queue/priorities``)."""
        version = self._champion()
        setting = score_setting(self._config)
        with self._db.transaction("read the pending queue") as uow:
            pending = uow.task_scores.pending()
            stored = uow.task_scores.of_tasks(p.task_id for p in pending)
        pending.sort(key=lambda p: (-p.priority, p.task_id))
        entries = [
            QueueEntry(
                p,
                stored.get(p.task_id),
                version is not None and _is_current(stored.get(p.task_id), version, setting),
            )
            for p in pending
        ]
        return QueueView(version, setting, self._weights, self.running, self._last, entries)


def _is_current(record: TaskScoreRecord | None, version: str, setting: str) -> bool:
    return (
        record is not None
        and record.score.model_version == version
        and record.score.score_name == setting
    )


def _unplaced(record: TaskScoreRecord | None, version: str, setting: str) -> bool:
    """A current score that no order has placed since it was stored (a run that stopped
    between scoring and ordering)."""
    return (
        record is not None
        and _is_current(record, version, setting)
        and (record.ordered_at is None or record.ordered_at < record.score.scored_at)
    )
