"""The audit log: append-only records of who changed what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.metadata.models.annotation import AuditEvent
from backend.metadata.records import utc


@dataclass(frozen=True)
class AuditRecord:
    """One audit event."""

    id: int
    at: datetime
    actor: str
    action: str
    task_id: int | None
    label_set_id: int | None
    version: int | None
    details: dict[str, Any]
    note: str


class AuditRepository:
    """Audit events in one unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def record(
        self,
        at: datetime,
        actor: str,
        action: str,
        *,
        task_id: int | None = None,
        label_set_id: int | None = None,
        version: int | None = None,
        details: dict[str, Any] | None = None,
        note: str = "",
    ) -> None:
        """Append one event (committed with the change it describes)."""
        self._session.add(
            AuditEvent(
                at=at,
                actor=actor,
                action=action,
                task_id=task_id,
                label_set_id=label_set_id,
                version=version,
                details=details or {},
                note=note,
            )
        )

    def list(
        self,
        *,
        task_id: int | None = None,
        actor: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> list[AuditRecord]:
        """Events, oldest first, filtered by task and/or actor."""
        stmt = select(AuditEvent)
        if task_id is not None:
            stmt = stmt.where(AuditEvent.task_id == task_id)
        if actor is not None:
            stmt = stmt.where(AuditEvent.actor == actor)
        rows = self._session.scalars(stmt.order_by(AuditEvent.id).limit(limit).offset(offset))
        return [
            AuditRecord(
                r.id,
                utc(r.at),
                r.actor,
                r.action,
                r.task_id,
                r.label_set_id,
                r.version,
                dict(r.details),
                r.note,
            )
            for r in rows
        ]
