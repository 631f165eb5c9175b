"""Ontology versions (stored once, never changed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.errors import ConflictError
from backend.metadata.models.annotation import Ontology


class OntologyRepository:
    """Ontology documents in one unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, version: int, document: dict[str, Any], author: str, now: datetime) -> None:
        """Store a new version; ConflictError if that version exists."""
        if self._session.get(Ontology, version) is not None:
            raise ConflictError(f"ontology version {version} already exists")
        self._session.add(
            Ontology(version=version, document=document, created_at=now, created_by=author)
        )

    def get(self, version: int) -> dict[str, Any] | None:
        row = self._session.get(Ontology, version)
        return None if row is None else dict(row.document)

    def latest_version(self) -> int | None:
        found = self._session.scalar(select(func.max(Ontology.version)))
        return None if found is None else int(found)

    def versions(self) -> list[int]:
        return list(self._session.scalars(select(Ontology.version).order_by(Ontology.version)))
