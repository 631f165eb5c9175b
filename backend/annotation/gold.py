"""Gold (honeypot) tasks: known answers hidden among ordinary tasks, and what they tell about
each person.

* An admin makes a gold task from stored frames and their known labels (imported ground truth,
  or a task accepted earlier); it looks like any other task to the people who label it, and every
  labeller does it once. ``calibration`` gold tasks are the first thing a new labeller gets.
* Each submission on a gold task is scored against the answer with the matcher (``qa``):
  ``accuracy`` is the class-aware F1 of the boxes (points' mIoU is reported beside it).
* Calibration: when a new labeller has done every calibration task, they pass unless the
  calibration rule (``qa.gold.flag_outliers``) flags them: mean accuracy below
  ``min_gold_accuracy``, or more than ``MAX_BELOW_MEDIAN`` below the group's median; else they are
  flagged and get no real work until an admin clears them. The same floor is checked on the
  running mean of the latest gold scores of everyone, so a labeller who turns careless (or a
  spammer) is flagged after ``min_gold_tasks`` gold tasks; each flag is a ``qa.alert`` event.
* Reviewers are checked too: some gold submissions are sent, as a hidden review task, to a
  reviewer; approving labels below the floor, or rejecting labels above it, is a wrong decision.
"""

from __future__ import annotations

import logging
import random
import statistics
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from backend.annotation import store
from backend.annotation.labels import content_from_json, content_to_json, validate
from backend.annotation.qa.gold import GoldAccuracy, flag_outliers
from backend.annotation.qa_adapter import ScoreSummary, score_labels
from backend.config import AnnotationConfig
from backend.errors import InvalidInputError, NotFoundError
from backend.metadata.repositories.reviews import GoldScoreRecord, ReviewRecord, VoteRecord
from backend.metadata.repositories.tasks import NewTask, TaskRecord
from backend.metadata.unit_of_work import Database, UnitOfWork

log = logging.getLogger(__name__)

#: share of gold submissions that also become a hidden review task
GOLD_REVIEW_SHARE = 0.5
#: a labeller this far (accuracy) below the group median is an outlier even above the floor
MAX_BELOW_MEDIAN = 0.25


class GoldKeeper:
    """Gold tasks and the scores of the people who do them; the workflow's ``GoldHook``."""

    def __init__(
        self,
        db: Database,
        config: AnnotationConfig,
        clock: Callable[[], datetime],
        rng: random.Random,
    ) -> None:
        self._db = db
        self._config = config
        self._clock = clock
        self._rng = rng

    # -- making gold ---------------------------------------------------------------------------

    def create(
        self, frame_ids: Sequence[str], labels: Any, *, calibration: bool, author: str
    ) -> TaskRecord:
        """A gold task over stored frames with ``labels`` (API JSON) as the known answer."""
        with self._db.transaction("create a gold task") as uow:
            return self.create_in(
                uow, frame_ids, labels, calibration=calibration, author=author, now=self._clock()
            )

    def create_in(
        self,
        uow: UnitOfWork,
        frame_ids: Sequence[str],
        labels: Any,
        *,
        calibration: bool,
        author: str,
        now: datetime,
    ) -> TaskRecord:
        """:meth:`create` inside the caller's unit of work (several gold tasks in one commit)."""
        if not frame_ids:
            raise InvalidInputError("a gold task needs at least one frame")
        frames = uow.frames.get_many(list(frame_ids))
        missing = [f for f in frame_ids if f not in frames]
        if missing:
            raise NotFoundError(f"frames {missing} are not stored")
        onto = store.ontology(uow)
        ordered = sorted((frames[f] for f in frame_ids), key=lambda f: f.captured_at_ns)
        task = uow.tasks.add(
            NewTask(
                vehicle=ordered[0].vehicle,
                key_frame_id=ordered[0].id,
                frame_ids=tuple(f.id for f in ordered),
                ontology_version=onto.version,
                stage="annotate",
                tier=2,
                overlap=1,
                priority=max(f.priority for f in ordered),
                is_gold=True,
                is_calibration=calibration,
            ),
            now,
        )
        answer = validate(content_from_json(labels), onto, store.frame_facts(uow, task))
        gold = store.new_label_set(
            uow, task, answer, source="gold", author=author, state="accepted", now=now
        )
        task = uow.tasks.update(task.id, now, gold_label_set_id=gold.id)
        uow.audit.record(
            now,
            author,
            "gold.created",
            task_id=task.id,
            label_set_id=gold.id,
            details={"calibration": calibration, "frames": list(task.frame_ids)},
        )
        return task

    def promote(self, task_id: int, *, calibration: bool, author: str) -> TaskRecord:
        """A gold task whose answer is an accepted task's labels."""
        with self._db.transaction(f"read accepted task {task_id}") as uow:
            task = uow.tasks.require(task_id)
            if task.accepted_label_set_id is None:
                raise InvalidInputError(f"task {task_id} has no accepted labels to promote")
            labels = store.content(uow, task.accepted_label_set_id)
        return self.create(
            task.frame_ids, content_to_json(labels), calibration=calibration, author=author
        )

    # -- the workflow's hooks ------------------------------------------------------------------

    def on_submitted(
        self, uow: UnitOfWork, who: str, task: TaskRecord, label_set_id: int, now: datetime
    ) -> None:
        """Score a gold submission, update the person's standing, maybe ask for a hidden review."""
        if task.gold_label_set_id is None:
            raise InvalidInputError(f"gold task {task.id} has no answer")
        onto = store.ontology(uow, task.ontology_version)
        answer = store.content(uow, task.gold_label_set_id)
        given = store.content(uow, label_set_id)
        summary = score_labels(given, answer, onto, self._config)
        uow.reviews.add_gold_score(
            _record(who, "annotation", task, label_set_id, summary, summary.accuracy), now
        )
        uow.votes.add(self._gold_votes(task, who, summary), now)
        uow.audit.record(
            now,
            "gold",
            "gold.scored",
            task_id=task.id,
            label_set_id=label_set_id,
            details={"user": who, **summary.as_dict()},
        )
        self._update_standing(uow, who, now)
        if not task.is_calibration and self._rng.random() < GOLD_REVIEW_SHARE:
            self._hidden_review(uow, task, label_set_id, now)

    @staticmethod
    def _gold_votes(task: TaskRecord, who: str, summary: ScoreSummary) -> list[VoteRecord]:
        """Each gold box the person matched becomes a vote with the true class pinned."""
        return [
            VoteRecord(f"gold:{task.id}:{gold_id}", task.id, who, given_class, true_class)
            for gold_id, given_class, true_class in summary.class_pairs
        ]

    def _hidden_review(
        self, uow: UnitOfWork, task: TaskRecord, label_set_id: int, now: datetime
    ) -> None:
        shadow = uow.tasks.add(
            NewTask(
                vehicle=task.vehicle,
                key_frame_id=task.key_frame_id,
                frame_ids=task.frame_ids,
                ontology_version=task.ontology_version,
                stage="review",
                tier=2,
                overlap=1,
                priority=task.priority,
                is_gold=True,
            ),
            now,
        )
        uow.tasks.update(shadow.id, now, gold_label_set_id=task.gold_label_set_id)
        copied = store.new_label_set(
            uow,
            shadow,
            store.content(uow, label_set_id),
            source="annotator",
            author=uow.label_sets.require(label_set_id).author,
            state="submitted",
            now=now,
        )
        uow.audit.record(
            now,
            "gold",
            "gold.review_created",
            task_id=shadow.id,
            label_set_id=copied.id,
            details={"of_task": task.id, "of_label_set": label_set_id},
        )

    def on_reviewed(
        self, uow: UnitOfWork, task: TaskRecord, review: ReviewRecord, now: datetime
    ) -> None:
        """Score a reviewer's decision on a hidden gold review."""
        if task.gold_label_set_id is None:
            return
        onto = store.ontology(uow, task.ontology_version)
        given = store.content(uow, review.label_set_id)
        summary = score_labels(
            given, store.content(uow, task.gold_label_set_id), onto, self._config
        )
        good_labels = summary.accuracy >= self._config.min_gold_accuracy
        right = (review.decision == "approve") == good_labels
        uow.reviews.add_gold_score(
            _record(review.reviewer, "review", task, review.label_set_id, summary, float(right)),
            now,
        )
        uow.audit.record(
            now,
            "gold",
            "gold.review_scored",
            task_id=task.id,
            details={
                "reviewer": review.reviewer,
                "decision": review.decision,
                "labels_accuracy": summary.accuracy,
                "right": right,
            },
        )

    # -- standing --------------------------------------------------------------------------------

    def _update_standing(self, uow: UnitOfWork, who: str, now: datetime) -> None:
        person = uow.people.require(who)
        scores = uow.reviews.gold_scores()
        mine = [s for s in scores if s.user == who]
        floor = self._config.min_gold_accuracy
        if person.calibration == "pending":
            done = {s.task_id for s in mine if s.calibration}
            available = sum(t.is_calibration for t in uow.tasks.page(gold=True, limit=1000)[0])
            if len(done) < min(self._config.calibration_tasks, available):
                return
            means = _means([s for s in scores if s.calibration])
            verdict = flag_outliers(
                means, min_tasks=1, min_accuracy=floor, max_below_median=MAX_BELOW_MEDIAN
            )[who]
            state = "flagged" if verdict.status == "flagged" else "passed"
            uow.people.set_calibration(who, state)
            uow.audit.record(
                now,
                "gold",
                "calibration.done",
                details={
                    "user": who,
                    "state": state,
                    "accuracy": verdict.accuracy,
                    "reasons": list(verdict.reasons),
                },
            )
            if state == "flagged":
                self._alert(uow, who, "calibration", verdict.accuracy, now)
            return
        if person.calibration != "passed":
            return
        recent = [s.accuracy for s in mine if not s.calibration][-self._config.min_gold_tasks * 2 :]
        if len(recent) >= self._config.min_gold_tasks and statistics.fmean(recent) < floor:
            uow.people.set_calibration(who, "flagged")
            self._alert(uow, who, "gold", statistics.fmean(recent), now)

    @staticmethod
    def _alert(uow: UnitOfWork, who: str, check: str, accuracy: float, now: datetime) -> None:
        uow.audit.record(
            now,
            "gold",
            "person.flagged",
            details={"user": who, "check": check, "accuracy": accuracy},
        )
        store.emit(
            uow,
            "qa.alert",
            {"kind": "labeller_flagged", "user": who, "check": check, "accuracy": accuracy},
            now,
        )


def _record(
    user: str,
    kind: str,
    task: TaskRecord,
    label_set_id: int,
    summary: ScoreSummary,
    accuracy: float,
) -> GoldScoreRecord:
    """A gold score: ``accuracy`` of the person's work (labels: the class-aware F1; a review
    decision: 1 if right), with the measured quality of the labels beside it."""
    return GoldScoreRecord(
        user=user,
        kind=kind,
        task_id=task.id,
        label_set_id=label_set_id,
        calibration=task.is_calibration and kind == "annotation",
        accuracy=accuracy,
        f1=summary.f1,
        mean_iou=summary.mean_iou,
        class_agreement=summary.class_agreement,
        centre_error_m=summary.centre_error_m,
        heading_error_rad=summary.heading_error_rad,
        point_miou=summary.point_miou,
    )


def _means(scores: Sequence[GoldScoreRecord]) -> dict[str, GoldAccuracy]:
    """Each person's stored gold scores pooled as the calibration rule takes them."""
    by_user: dict[str, list[GoldScoreRecord]] = {}
    for s in scores:
        by_user.setdefault(s.user, []).append(s)
    nan = float("nan")
    return {
        user: GoldAccuracy(
            n_tasks=len(rows),
            accuracy=statistics.fmean(r.accuracy for r in rows),
            geometric_f1=nan,
            class_agreement=statistics.fmean(r.class_agreement for r in rows),
            mean_iou_3d=statistics.fmean(r.mean_iou for r in rows),
            n_boxes=0,
            n_gold_boxes=0,
        )
        for user, rows in by_user.items()
    }
