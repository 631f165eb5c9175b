"""Model versions and their aliases (champion, candidate, previous)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backend.errors import NotFoundError
from backend.metadata.models.release import ModelAlias, ModelVersion
from backend.metadata.records import utc


@dataclass(frozen=True)
class ModelVersionRecord:
    """A registered model: the archive at ``blob_key`` has SHA-256 ``digest`` and ``size``
    bytes; ``signature`` (64 bytes) is the Ed25519 signature of the digest by ``public_key``
    (32 raw bytes). ``metrics`` are the evaluation figures it was registered with."""

    version: str
    digest: str
    size: int
    signature: bytes
    public_key: bytes
    blob_key: str
    run_id: str | None
    dataset_digest: str | None
    parent_version: str | None
    metrics: dict[str, Any]
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class AliasRecord:
    """An alias and the version it names, with who set it when."""

    name: str
    version: str
    updated_at: datetime
    updated_by: str


def _record(row: ModelVersion) -> ModelVersionRecord:
    return ModelVersionRecord(
        version=row.version,
        digest=row.digest,
        size=row.size,
        signature=bytes.fromhex(row.signature),
        public_key=bytes.fromhex(row.public_key),
        blob_key=row.blob_key,
        run_id=row.run_id,
        dataset_digest=row.dataset_digest,
        parent_version=row.parent_version,
        metrics=dict(row.metrics),
        created_at=utc(row.created_at),
        created_by=row.created_by,
    )


class ModelVersionRepository:
    """Model versions (written once) and aliases in one unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, record: ModelVersionRecord) -> None:
        """Insert a version; a duplicate version or digest raises ``IntegrityError`` at flush."""
        fields = dict(record.__dict__)
        fields["signature"] = record.signature.hex()
        fields["public_key"] = record.public_key.hex()
        self._session.add(ModelVersion(**fields))
        self._session.flush()

    def get(self, version: str) -> ModelVersionRecord | None:
        row = self._session.get(ModelVersion, version)
        return None if row is None else _record(row)

    def require(self, version: str) -> ModelVersionRecord:
        found = self.get(version)
        if found is None:
            raise NotFoundError(f"no model version {version!r} is registered")
        return found

    def by_digest(self, digest: str) -> ModelVersionRecord | None:
        row = self._session.scalars(select(ModelVersion).where(ModelVersion.digest == digest))
        first = row.first()
        return None if first is None else _record(first)

    def list(self, *, limit: int = 100, offset: int = 0) -> list[ModelVersionRecord]:
        """Versions, newest first."""
        rows = self._session.scalars(
            select(ModelVersion)
            .order_by(ModelVersion.created_at.desc(), ModelVersion.version)
            .limit(limit)
            .offset(offset)
        )
        return [_record(r) for r in rows]

    def alias(self, name: str, *, lock: bool = False) -> AliasRecord | None:
        """The alias ``name``; ``lock`` holds its row until the transaction ends (PostgreSQL)."""
        stmt = select(ModelAlias).where(ModelAlias.name == name)
        if lock:
            stmt = stmt.with_for_update()
        row = self._session.scalars(stmt).first()
        return (
            None
            if row is None
            else AliasRecord(row.name, row.version, utc(row.updated_at), row.updated_by)
        )

    def aliases(self) -> builtins.list[AliasRecord]:
        rows = self._session.scalars(select(ModelAlias).order_by(ModelAlias.name))
        return [AliasRecord(r.name, r.version, utc(r.updated_at), r.updated_by) for r in rows]

    def set_alias(self, name: str, version: str, at: datetime, by: str) -> None:
        """Point ``name`` at ``version`` (creating the alias if needed)."""
        row = self._session.get(ModelAlias, name)
        if row is None:
            self._session.add(ModelAlias(name=name, version=version, updated_at=at, updated_by=by))
        else:
            row.version, row.updated_at, row.updated_by = version, at, by
        self._session.flush()

    def clear_alias(self, name: str) -> None:
        """Remove the alias ``name`` (nothing happens if it is not set)."""
        self._session.execute(delete(ModelAlias).where(ModelAlias.name == name))
