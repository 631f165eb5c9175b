"""Dataset versions: one row per content-addressed version (its manifest is in the blob store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.errors import NotFoundError
from backend.metadata.models.datasets import DatasetVersion
from backend.metadata.records import utc


@dataclass(frozen=True)
class DatasetVersionRecord:
    """A dataset version's facts; ``digest`` is the SHA-256 of the manifest at ``manifest_key``."""

    digest: str
    name: str
    created_at: datetime
    created_by: str
    ontology_version: int
    frame_count: int
    task_count: int
    manifest_key: str


def _record(row: DatasetVersion) -> DatasetVersionRecord:
    return DatasetVersionRecord(
        digest=row.digest,
        name=row.name,
        created_at=utc(row.created_at),
        created_by=row.created_by,
        ontology_version=row.ontology_version,
        frame_count=row.frame_count,
        task_count=row.task_count,
        manifest_key=row.manifest_key,
    )


class DatasetRepository:
    """Dataset versions in one unit of work (rows are written once, never changed)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, record: DatasetVersionRecord) -> bool:
        """Insert a version; False (nothing written) if its digest is stored. Two writers racing
        on one digest both pass the check; the loser's flush raises ``IntegrityError``."""
        if self._session.get(DatasetVersion, record.digest) is not None:
            return False
        self._session.add(DatasetVersion(**record.__dict__))
        self._session.flush()
        return True

    def get(self, digest: str) -> DatasetVersionRecord | None:
        row = self._session.get(DatasetVersion, digest)
        return None if row is None else _record(row)

    def require(self, digest: str) -> DatasetVersionRecord:
        found = self.get(digest)
        if found is None:
            raise NotFoundError(f"no dataset version {digest}")
        return found

    def page(self, *, limit: int = 100, offset: int = 0) -> tuple[list[DatasetVersionRecord], int]:
        """A page of versions, newest first, and how many there are."""
        total = int(self._session.scalar(select(func.count()).select_from(DatasetVersion)) or 0)
        rows = self._session.scalars(
            select(DatasetVersion)
            .order_by(DatasetVersion.created_at.desc(), DatasetVersion.digest)
            .limit(limit)
            .offset(offset)
        )
        return [_record(r) for r in rows], total
