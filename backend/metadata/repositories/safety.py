"""Safety case snapshots and release sign-offs (append-only: nothing here updates or deletes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.errors import NotFoundError
from backend.metadata.models.safety import SafetySignOffRow, SafetySnapshotRow
from backend.metadata.records import utc


@dataclass(frozen=True)
class SnapshotRecord:
    """A stored snapshot: who took it when (the promotion's actor and time), its digests, top
    status, gate verdict and content (``backend.safety.snapshot.SnapshotContent.to_json``)."""

    id: int
    model_version: str
    created_at: datetime
    created_by: str
    case_name: str
    case_digest: str
    digest: str
    top_status: str
    verdict_id: int | None
    content: dict[str, Any]


@dataclass(frozen=True)
class SignOffRecord:
    """A stored sign-off."""

    id: int
    model_version: str
    signed_at: datetime
    signed_by: str
    comment: str
    verdict_id: int
    snapshot_id: int | None
    case_digest: str
    snapshot_digest: str


def _snapshot(r: SafetySnapshotRow) -> SnapshotRecord:
    return SnapshotRecord(
        r.id,
        r.model_version,
        utc(r.created_at),
        r.created_by,
        r.case_name,
        r.case_digest,
        r.digest,
        r.top_status,
        r.verdict_id,
        dict(r.content),
    )


def _signoff(r: SafetySignOffRow) -> SignOffRecord:
    return SignOffRecord(
        r.id,
        r.model_version,
        utc(r.signed_at),
        r.signed_by,
        r.comment,
        r.verdict_id,
        r.snapshot_id,
        r.case_digest,
        r.snapshot_digest,
    )


class SafetyRepository:
    """Snapshots and sign-offs in one unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add_snapshot(
        self,
        *,
        model_version: str,
        at: datetime,
        by: str,
        case_name: str,
        case_digest: str,
        digest: str,
        top_status: str,
        verdict_id: int | None,
        content: dict[str, Any],
    ) -> SnapshotRecord:
        """Store a snapshot (IntegrityError when the version has one already)."""
        row = SafetySnapshotRow(
            model_version=model_version,
            created_at=at,
            created_by=by,
            case_name=case_name,
            case_digest=case_digest,
            digest=digest,
            top_status=top_status,
            verdict_id=verdict_id,
            content=content,
        )
        self._session.add(row)
        self._session.flush()
        return _snapshot(row)

    def snapshot(self, model_version: str) -> SnapshotRecord | None:
        stmt = select(SafetySnapshotRow).where(SafetySnapshotRow.model_version == model_version)
        row = self._session.scalars(stmt).first()
        return None if row is None else _snapshot(row)

    def require_snapshot(self, model_version: str) -> SnapshotRecord:
        found = self.snapshot(model_version)
        if found is None:
            raise NotFoundError(
                f"model {model_version} has no safety case snapshot (it was never released)"
            )
        return found

    def snapshots(self, *, limit: int = 100, offset: int = 0) -> tuple[list[SnapshotRecord], int]:
        """Snapshots, newest first, and how many there are."""
        stmt = select(SafetySnapshotRow).order_by(SafetySnapshotRow.id.desc())
        rows = self._session.scalars(stmt.limit(limit).offset(offset))
        total = self._session.scalar(select(func.count()).select_from(SafetySnapshotRow))
        return [_snapshot(r) for r in rows], int(total or 0)

    def add_signoff(
        self,
        *,
        model_version: str,
        at: datetime,
        by: str,
        comment: str,
        verdict_id: int,
        snapshot_id: int | None,
        case_digest: str,
        snapshot_digest: str,
    ) -> SignOffRecord:
        """Store a sign-off (IntegrityError when ``by`` signed ``model_version`` already)."""
        row = SafetySignOffRow(
            model_version=model_version,
            signed_at=at,
            signed_by=by,
            comment=comment,
            verdict_id=verdict_id,
            snapshot_id=snapshot_id,
            case_digest=case_digest,
            snapshot_digest=snapshot_digest,
        )
        self._session.add(row)
        self._session.flush()
        return _signoff(row)

    def signoffs(self, model_version: str | None = None) -> list[SignOffRecord]:
        """Sign-offs, oldest first, optionally of one version."""
        stmt = select(SafetySignOffRow).order_by(SafetySignOffRow.id)
        if model_version is not None:
            stmt = stmt.where(SafetySignOffRow.model_version == model_version)
        return [_signoff(r) for r in self._session.scalars(stmt)]
