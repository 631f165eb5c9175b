"""Reviews and gold scores: the judgements made about people's labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.metadata.models.annotation import ClassVote, GoldScore, Review
from backend.metadata.records import utc


@dataclass(frozen=True)
class ReviewRecord:
    """A reviewer's decision."""

    id: int
    task_id: int
    round: int
    assignment_id: int
    label_set_id: int
    reviewer: str
    annotator: str
    decision: str
    reasons: list[str]
    box_verdicts: list[dict[str, Any]]
    comment: str
    created_at: datetime


@dataclass(frozen=True)
class GoldScoreRecord:
    """A person's accuracy on one gold task (``kind``: annotation or review)."""

    user: str
    kind: str
    task_id: int
    label_set_id: int
    calibration: bool
    accuracy: float
    f1: float
    mean_iou: float
    class_agreement: float
    centre_error_m: float
    heading_error_rad: float
    point_miou: float | None = None
    created_at: datetime | None = field(default=None, compare=False)


def _review(row: Review) -> ReviewRecord:
    return ReviewRecord(
        id=row.id,
        task_id=row.task_id,
        round=row.round,
        assignment_id=row.assignment_id,
        label_set_id=row.label_set_id,
        reviewer=row.reviewer,
        annotator=row.annotator,
        decision=row.decision,
        reasons=list(row.reasons),
        box_verdicts=list(row.box_verdicts),
        comment=row.comment,
        created_at=utc(row.created_at),
    )


class ReviewRepository:
    """Reviews and gold scores in one unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        *,
        task_id: int,
        round_: int,
        assignment_id: int,
        label_set_id: int,
        reviewer: str,
        annotator: str,
        decision: str,
        reasons: list[str],
        box_verdicts: list[dict[str, Any]],
        comment: str,
        now: datetime,
    ) -> ReviewRecord:
        row = Review(
            task_id=task_id,
            round=round_,
            assignment_id=assignment_id,
            label_set_id=label_set_id,
            reviewer=reviewer,
            annotator=annotator,
            decision=decision,
            reasons=reasons,
            box_verdicts=box_verdicts,
            comment=comment,
            created_at=now,
        )
        self._session.add(row)
        self._session.flush()
        return _review(row)

    def of_task(self, task_id: int) -> list[ReviewRecord]:
        stmt = select(Review).where(Review.task_id == task_id).order_by(Review.id)
        return [_review(r) for r in self._session.scalars(stmt)]

    def all(self) -> list[ReviewRecord]:
        return [_review(r) for r in self._session.scalars(select(Review).order_by(Review.id))]

    def add_gold_score(self, score: GoldScoreRecord, now: datetime) -> None:
        self._session.add(
            GoldScore(
                user=score.user,
                kind=score.kind,
                task_id=score.task_id,
                label_set_id=score.label_set_id,
                calibration=score.calibration,
                accuracy=score.accuracy,
                f1=score.f1,
                mean_iou=score.mean_iou,
                class_agreement=score.class_agreement,
                centre_error_m=score.centre_error_m,
                heading_error_rad=score.heading_error_rad,
                point_miou=score.point_miou,
                created_at=now,
            )
        )

    def gold_scores(
        self, user: str | None = None, kind: str | None = "annotation"
    ) -> list[GoldScoreRecord]:
        """Gold scores, oldest first, of one person and/or kind (None: every kind)."""
        stmt = select(GoldScore)
        if user is not None:
            stmt = stmt.where(GoldScore.user == user)
        if kind is not None:
            stmt = stmt.where(GoldScore.kind == kind)
        return [
            GoldScoreRecord(
                user=r.user,
                kind=r.kind,
                task_id=r.task_id,
                label_set_id=r.label_set_id,
                calibration=r.calibration,
                accuracy=r.accuracy,
                f1=r.f1,
                mean_iou=r.mean_iou,
                class_agreement=r.class_agreement,
                centre_error_m=r.centre_error_m,
                heading_error_rad=r.heading_error_rad,
                point_miou=r.point_miou,
                created_at=utc(r.created_at),
            )
            for r in self._session.scalars(stmt.order_by(GoldScore.id))
        ]


@dataclass(frozen=True)
class VoteRecord:
    """One person's class for one object; ``truth`` for gold objects."""

    item: str
    task_id: int
    worker: str
    label: str
    truth: str | None
    #: when it was stored (None on a vote not stored yet)
    at: datetime | None = None


class VoteRepository:
    """Class votes (the input of the Dawid-Skene aggregation) in one unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, votes: list[VoteRecord], now: datetime) -> None:
        for v in votes:
            self._session.add(
                ClassVote(
                    item=v.item,
                    task_id=v.task_id,
                    worker=v.worker,
                    label=v.label,
                    truth=v.truth,
                    created_at=now,
                )
            )

    def recent(self, limit: int = 50_000) -> list[VoteRecord]:
        """The newest ``limit`` votes (the aggregation's window), oldest first."""
        rows = self._session.scalars(select(ClassVote).order_by(ClassVote.id.desc()).limit(limit))
        out = [
            VoteRecord(r.item, r.task_id, r.worker, r.label, r.truth, utc(r.created_at))
            for r in rows
        ]
        return out[::-1]
