"""Dataset versions: immutable, content-addressed sets of accepted labels."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.metadata.models.base import Base


class DatasetVersion(Base):
    """One dataset version; ``digest`` is the SHA-256 of its canonical manifest, which lives in
    the blob store under ``manifest_key``."""

    __tablename__ = "dataset_versions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))
    ontology_version: Mapped[int] = mapped_column(ForeignKey("ontologies.version"))
    frame_count: Mapped[int] = mapped_column(Integer)
    task_count: Mapped[int] = mapped_column(Integer)
    manifest_key: Mapped[str] = mapped_column(String(255))
