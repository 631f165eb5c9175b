"""The safety case of each release: immutable snapshots of the case as it stood when a model was
promoted to champion, and the safety engineers' sign-offs of releases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from backend.errors import ConflictError
from backend.metadata.models.base import Base


class SafetySnapshotRow(Base):
    """The case of one released model version (``backend.safety.snapshot``): written once, in
    the promotion's transaction, never updated or deleted (the ORM refuses both). ``content`` is
    the snapshot's JSON, ``digest`` its SHA-256; ``case_digest`` is the YAML text's."""

    __tablename__ = "safety_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_version: Mapped[str] = mapped_column(ForeignKey("model_versions.version"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))
    case_name: Mapped[str] = mapped_column(String(128))
    case_digest: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    top_status: Mapped[str] = mapped_column(String(16))
    verdict_id: Mapped[int | None] = mapped_column(ForeignKey("gate_verdicts.id"), default=None)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)


class SafetySignOffRow(Base):
    """A safety engineer's sign-off of a model version: the gate verdict that let it through,
    the snapshot signed (``snapshot_id`` when the version was released already) and the digest
    of the case content signed; one per person and version."""

    __tablename__ = "safety_signoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_version: Mapped[str] = mapped_column(ForeignKey("model_versions.version"), index=True)
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    signed_by: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text)
    verdict_id: Mapped[int] = mapped_column(ForeignKey("gate_verdicts.id"))
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("safety_snapshots.id"), default=None)
    case_digest: Mapped[str] = mapped_column(String(64))
    snapshot_digest: Mapped[str] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("model_version", "signed_by", name="uq_safety_signoff"),)


def _immutable(_mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    raise ConflictError(
        f"{type(target).__tablename__} row {target.id} is immutable: a release's safety record "
        "is never changed or deleted"
    )


for _row in (SafetySnapshotRow, SafetySignOffRow):
    event.listen(_row, "before_update", _immutable)
    event.listen(_row, "before_delete", _immutable)
