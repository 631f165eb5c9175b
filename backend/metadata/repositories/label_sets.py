"""Label sets and their revisions (every save is a new revision; nothing is overwritten)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import NotFoundError
from backend.metadata.models.annotation import LabelRevision, LabelSet
from backend.metadata.records import utc


@dataclass(frozen=True)
class LabelSetRecord:
    """A label set's facts (its content is in its revisions)."""

    id: int
    task_id: int
    source: str
    author: str
    assignment_id: int | None
    state: str
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RevisionRecord:
    """One stored revision in its storage form (see ``backend.annotation.labels``)."""

    label_set_id: int
    version: int
    boxes: list[dict[str, Any]]
    points: bytes | None
    point_counts: dict[str, int] | None
    draft: bool
    author: str
    created_at: datetime
    digest: str


def _set(row: LabelSet) -> LabelSetRecord:
    return LabelSetRecord(
        id=row.id,
        task_id=row.task_id,
        source=row.source,
        author=row.author,
        assignment_id=row.assignment_id,
        state=row.state,
        version=row.version,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
    )


def _revision(row: LabelRevision) -> RevisionRecord:
    return RevisionRecord(
        label_set_id=row.label_set_id,
        version=row.version,
        boxes=list(row.boxes.get("boxes", [])),
        points=row.points,
        point_counts=None if row.point_counts is None else dict(row.point_counts),
        draft=row.draft,
        author=row.author,
        created_at=utc(row.created_at),
        digest=row.digest,
    )


class LabelSetRepository:
    """Label sets in one unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        task_id: int,
        source: str,
        author: str,
        state: str,
        now: datetime,
        assignment_id: int | None = None,
    ) -> LabelSetRecord:
        """A new, empty label set at version 0 (its first revision makes it version 1)."""
        row = LabelSet(
            task_id=task_id,
            source=source,
            author=author,
            assignment_id=assignment_id,
            state=state,
            version=0,
            created_at=now,
            updated_at=now,
        )
        self._session.add(row)
        self._session.flush()
        return _set(row)

    def get(self, label_set_id: int, *, for_update: bool = False) -> LabelSetRecord | None:
        stmt = select(LabelSet).where(LabelSet.id == label_set_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = self._session.scalars(stmt).first()
        return None if row is None else _set(row)

    def require(self, label_set_id: int, *, for_update: bool = False) -> LabelSetRecord:
        found = self.get(label_set_id, for_update=for_update)
        if found is None:
            raise NotFoundError(f"no label set with id {label_set_id}")
        return found

    def of_task(self, task_id: int, source: str | None = None) -> list[LabelSetRecord]:
        stmt = select(LabelSet).where(LabelSet.task_id == task_id)
        if source is not None:
            stmt = stmt.where(LabelSet.source == source)
        return [_set(r) for r in self._session.scalars(stmt.order_by(LabelSet.id))]

    def set_state(self, label_set_id: int, state: str, now: datetime) -> None:
        row = self._session.get(LabelSet, label_set_id)
        if row is None:
            raise NotFoundError(f"no label set with id {label_set_id}")
        row.state = state
        row.updated_at = now

    def add_revision(
        self,
        label_set_id: int,
        expected_version: int,
        boxes: list[dict[str, Any]],
        points: bytes | None,
        point_counts: dict[str, int] | None,
        *,
        draft: bool,
        author: str,
        digest: str,
        now: datetime,
    ) -> int:
        """Append revision ``expected_version + 1``; the caller checked ``expected_version``
        under a row lock, and the primary key (set, version) refuses a concurrent duplicate."""
        row = self._session.get(LabelSet, label_set_id)
        if row is None:
            raise NotFoundError(f"no label set with id {label_set_id}")
        version = expected_version + 1
        self._session.add(
            LabelRevision(
                label_set_id=label_set_id,
                version=version,
                boxes={"boxes": boxes},
                points=points,
                point_counts=point_counts,
                draft=draft,
                author=author,
                created_at=now,
                digest=digest,
            )
        )
        row.version = version
        row.updated_at = now
        self._session.flush()
        return version

    def revision(self, label_set_id: int, version: int | None = None) -> RevisionRecord | None:
        """Revision ``version`` (the latest if None), or None if the set has none."""
        if version is None:
            found = self.get(label_set_id)
            if found is None or found.version == 0:
                return None
            version = found.version
        row = self._session.get(LabelRevision, (label_set_id, version))
        return None if row is None else _revision(row)

    def revisions(self, label_set_id: int) -> list[RevisionRecord]:
        stmt = (
            select(LabelRevision)
            .where(LabelRevision.label_set_id == label_set_id)
            .order_by(LabelRevision.version)
        )
        return [_revision(r) for r in self._session.scalars(stmt)]
