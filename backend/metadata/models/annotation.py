"""The annotation stage's tables: ontology versions, tasks and their frames, routing decisions,
leased assignments, versioned label sets, reviews, gold scores and the audit log.

A task's life (``stage``): ``annotate`` (k independent slots) -> ``review`` (tier 2) or
``consensus`` (tier 3, k > 1) -> ``adjudicate`` (senior panel, on disagreement or a second
rejection) -> ``accepted``. Tier 1 tasks are ``accepted`` from their pre-labels at creation
unless a spot check sends them to ``annotate``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.metadata.models.base import Base

#: assignment states that hold their slot (an expired or released one frees it)
SLOT_HOLDING_STATES = ("active", "submitted", "returned")


class Ontology(Base):
    """One version of the label ontology (classes, attributes); never changed once written."""

    __tablename__ = "ontologies"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))


class Task(Base):
    """A unit of labelling: a key frame and its context frames, in one stage of the workflow."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    vehicle: Mapped[str] = mapped_column(String(64))
    key_frame_id: Mapped[str] = mapped_column(ForeignKey("frames.id"), index=True)
    ontology_version: Mapped[int] = mapped_column(ForeignKey("ontologies.version"))
    stage: Mapped[str] = mapped_column(String(16))
    tier: Mapped[int] = mapped_column(Integer)
    overlap: Mapped[int] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer, default=0)
    rejections: Mapped[int] = mapped_column(Integer, default=0)
    priority: Mapped[float] = mapped_column(Float)
    spot_check: Mapped[bool] = mapped_column(Boolean, default=False)
    is_gold: Mapped[bool] = mapped_column(Boolean, default=False)
    is_calibration: Mapped[bool] = mapped_column(Boolean, default=False)
    gold_label_set_id: Mapped[int | None] = mapped_column(Integer, default=None)
    accepted_label_set_id: Mapped[int | None] = mapped_column(Integer, default=None)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    #: agreement (0..1) of the annotators of an overlap task, measured at consensus
    agreement: Mapped[float | None] = mapped_column(Float, default=None)

    __table_args__ = (Index("ix_tasks_queue", "stage", "priority"),)


class TaskFrame(Base):
    """The frames of a task in capture order (``position``); one of them is the key frame."""

    __tablename__ = "task_frames"

    task_id: Mapped[int] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    frame_id: Mapped[str] = mapped_column(ForeignKey("frames.id"), index=True)


class Triage(Base):
    """What the task builder decided for a stored frame (``task``, ``context`` of a task, or
    ``skipped`` by the task rule), so each frame is considered once."""

    __tablename__ = "triage"

    frame_id: Mapped[str] = mapped_column(ForeignKey("frames.id"), primary_key=True)
    decision: Mapped[str] = mapped_column(String(16))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), default=None)
    reason: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RoutingDecision(Base):
    """Which routing rule sent a task to which tier, and the signals it saw."""

    __tablename__ = "routing_decisions"

    task_id: Mapped[int] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    rule: Mapped[str] = mapped_column(String(64))
    tier: Mapped[int] = mapped_column(Integer)
    overlap: Mapped[int] = mapped_column(Integer)
    spot_check: Mapped[bool] = mapped_column(Boolean)
    signals: Mapped[dict[str, float]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Assignment(Base):
    """One person's turn at one stage of a task. ``slot`` < the stage's capacity; the partial
    unique index makes a double lease impossible on any database."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    round: Mapped[int] = mapped_column(Integer)
    slot: Mapped[int] = mapped_column(Integer)
    user: Mapped[str] = mapped_column(ForeignKey("users.name"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    leased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    label_set_id: Mapped[int | None] = mapped_column(Integer, default=None)

    __table_args__ = (
        Index(
            "ux_assignments_slot",
            "task_id",
            "stage",
            "round",
            "slot",
            unique=True,
            sqlite_where=text("state IN ('active', 'submitted', 'returned')"),
            postgresql_where=text("state IN ('active', 'submitted', 'returned')"),
        ),
        Index("ix_assignments_user_state", "user", "state"),
    )


class LabelSet(Base):
    """A set of labels (boxes and point classes) for a task by one author; ``version`` is its
    latest revision. ``source``: prelabel, annotator, consensus, adjudication, gold, import."""

    __tablename__ = "label_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(128))
    assignment_id: Mapped[int | None] = mapped_column(Integer, default=None)
    state: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LabelRevision(Base):
    """One saved version of a label set. ``boxes``: per frame, the list of box objects;
    ``points``: zstd-compressed uint32 per point (``semantic | instance << 16``) of every frame,
    concatenated in task order, ``point_counts`` per frame; ``digest`` SHA-256 of the content."""

    __tablename__ = "label_revisions"

    label_set_id: Mapped[int] = mapped_column(
        ForeignKey("label_sets.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    boxes: Mapped[dict[str, Any]] = mapped_column(JSON)
    points: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    point_counts: Mapped[dict[str, int] | None] = mapped_column(JSON, default=None)
    draft: Mapped[bool] = mapped_column(Boolean)
    author: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    digest: Mapped[str] = mapped_column(String(64))


class Review(Base):
    """A reviewer's decision on an annotator's label set, with reason codes per frame and box."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    label_set_id: Mapped[int] = mapped_column(ForeignKey("label_sets.id"))
    reviewer: Mapped[str] = mapped_column(ForeignKey("users.name"))
    annotator: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(JSON)
    box_verdicts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class GoldScore(Base):
    """A person's work on a gold task measured against the known answer: ``kind`` is
    ``annotation`` (their labels) or ``review`` (their decision on someone's labels)."""

    __tablename__ = "gold_scores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(ForeignKey("users.name"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    label_set_id: Mapped[int] = mapped_column(ForeignKey("label_sets.id"))
    calibration: Mapped[bool] = mapped_column(Boolean)
    accuracy: Mapped[float] = mapped_column(Float)
    f1: Mapped[float] = mapped_column(Float)
    mean_iou: Mapped[float] = mapped_column(Float)
    class_agreement: Mapped[float] = mapped_column(Float)
    centre_error_m: Mapped[float] = mapped_column(Float)
    heading_error_rad: Mapped[float] = mapped_column(Float)
    point_miou: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ClassVote(Base):
    """One person's class for one object (``item``: a consensus cluster or a gold box), the
    input of the Dawid-Skene class aggregation; ``truth`` is set for gold items (pinned)."""

    __tablename__ = "class_votes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item: Mapped[str] = mapped_column(String(96), index=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    worker: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(64))
    truth: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """Who changed what, when: box-level before/after and point-class changes of each save, and
    every workflow decision (lease, submit, review, escalation, acceptance)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    task_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    label_set_id: Mapped[int | None] = mapped_column(Integer, default=None)
    version: Mapped[int | None] = mapped_column(Integer, default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")


class TaskScore(Base):
    """What the champion's runtime made of a task's key frame, for active learning
    (``backend.annotation.active``): the model version, the frame's uncertainty (units of
    ``score_name``), its kind and representative embedding (float32 bytes, None without a
    candidate); the priority the builder gave the task; and the terms of the latest order it
    was placed with (``queue_rank`` 0 = first, ``queue_batch``, ``priority`` it got)."""

    __tablename__ = "task_scores"

    task_id: Mapped[int] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    frame_id: Mapped[str] = mapped_column(ForeignKey("frames.id"))
    model_version: Mapped[str] = mapped_column(String(128), index=True)
    score_name: Mapped[str] = mapped_column(String(32))
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    candidates: Mapped[int] = mapped_column(Integer)
    uncertainty: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(64))
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    builder_priority: Mapped[float] = mapped_column(Float)
    ordered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    queue_rank: Mapped[int | None] = mapped_column(Integer, default=None)
    queue_batch: Mapped[int | None] = mapped_column(Integer, default=None)
    uncertainty_norm: Mapped[float | None] = mapped_column(Float, default=None)
    distance: Mapped[float | None] = mapped_column(Float, default=None)
    diversity: Mapped[float | None] = mapped_column(Float, default=None)
    same_kind: Mapped[int | None] = mapped_column(Integer, default=None)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    priority: Mapped[float | None] = mapped_column(Float, default=None)
