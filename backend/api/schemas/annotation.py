"""Request and response models of the annotation routes (tasks, labels, reviews, people).

Boxes are ``[x, y, z, l, w, h, yaw]`` in the frame's sensor frame: metres, the box centre, yaw in
radians about +z from +x. Point labels travel as ``zstd-u32le-base64``: base64 of the
zstd-compressed little-endian uint32 words ``semantic | instance << 16`` (the SemanticKITTI
``.label`` layout), one word per point in the frame's point order; saves may send them as
``gzip-u32le-base64`` instead (gzip: what browsers compress natively).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from backend.annotation.editing import LabelSetView, TaskView
from backend.annotation.labels import content_to_json
from backend.metadata.models.base import ID_MAX
from backend.metadata.repositories.audit import AuditRecord
from backend.metadata.repositories.people import UserRecord
from backend.metadata.repositories.reviews import ReviewRecord
from backend.metadata.repositories.tasks import TaskRecord


class BoxIn(BaseModel):
    """One box of a label set."""

    id: str = Field(min_length=1, max_length=64, description="stable within the label set")
    frame_id: str = Field(min_length=1, max_length=64)
    track_id: int = Field(ge=0, lt=2**31, description="the same object across the task's frames")
    class_name: str = Field(min_length=1, max_length=64)
    box: list[float] = Field(min_length=7, max_length=7, description="[x, y, z, l, w, h, yaw]")
    attributes: dict[str, str] = Field(default_factory=dict)
    score: float | None = Field(default=None, description="model confidence (pre-labels only)")
    interpolated: bool = Field(
        default=False,
        description="interpolated by the tool between two keyframes of its track (false: a "
        "keyframe, placed or edited by a person)",
    )


class PointsIn(BaseModel):
    """The point labels of one frame (answers are always ``zstd-u32le-base64``)."""

    encoding: Literal["zstd-u32le-base64", "gzip-u32le-base64"] = "zstd-u32le-base64"
    count: int | None = Field(default=None, ge=0, le=2**63 - 1)
    data: str = Field(max_length=64 * 2**20)


class LabelsIn(BaseModel):
    """A label set's content."""

    boxes: list[BoxIn] = Field(default_factory=list, max_length=20_000)
    points: dict[str, PointsIn] = Field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return self.model_dump()


class SaveIn(BaseModel):
    """A save: the version it started from and the labels."""

    base_version: int = Field(ge=0, le=ID_MAX)
    labels: LabelsIn
    draft: bool = Field(default=True, description="an autosave; false for an explicit save")


class SubmitIn(BaseModel):
    """Finish an annotation: the final labels, or none to submit the saved ``base_version``."""

    base_version: int = Field(ge=0, le=ID_MAX)
    labels: LabelsIn | None = None


class BoxVerdictIn(BaseModel):
    box_id: str
    reasons: list[str] = Field(default_factory=list)
    comment: str = Field(default="", max_length=4000)


class ReviewIn(BaseModel):
    """A reviewer's decision; reasons are codes (``GET /ontology`` lists them)."""

    decision: Literal["approve", "reject", "fix_accept"]
    reasons: list[str] = Field(default_factory=list)
    box_verdicts: list[BoxVerdictIn] = Field(default_factory=list)
    comment: str = Field(default="", max_length=4000)
    fixed: LabelsIn | None = None


class AdjudicationIn(BaseModel):
    """The senior panel's decision: accept an existing label set, or its own labels."""

    accept_label_set: int | None = Field(default=None, ge=1, le=ID_MAX)
    fixed: LabelsIn | None = None
    comment: str = Field(default="", max_length=4000)


class FitIn(BaseModel):
    """A rough box to auto-fit: only its footprint (x, y, l, w, yaw) is used."""

    frame_id: str = Field(min_length=1, max_length=64)
    box: list[Annotated[float, Field(allow_inf_nan=False, ge=-1e4, le=1e4)]] = Field(
        min_length=7, max_length=7, description="[x, y, z, l, w, h, yaw] (m, rad), |each| <= 1e4"
    )


class InsideIn(BaseModel):
    """A box whose points are wanted (the labelling tool's "fill the box with its class")."""

    frame_id: str = Field(min_length=1, max_length=64)
    box: list[Annotated[float, Field(allow_inf_nan=False, ge=-1e4, le=1e4)]] = Field(
        min_length=7, max_length=7, description="[x, y, z, l, w, h, yaw] (m, rad), |each| <= 1e4"
    )
    margin_m: float = Field(default=0.0, ge=0.0, le=5.0, description="grow each side (m)")


class FitOut(BaseModel):
    """The fitted box and how many object points it was fitted to."""

    box: list[float] = Field(min_length=7, max_length=7, description="[x, y, z, l, w, h, yaw]")
    num_points: int


class UpcomingOut(BaseModel):
    """The task a person will most likely get next (a guess for prefetching, not a lease)."""

    task_id: int
    key_frame_id: str = Field(description="the frame the task is about")
    frame_ids: list[str]


class BoxAgreementOut(BaseModel):
    """One box of another annotator and how it agrees with the labels being judged
    (``backend.annotation.box_agreement``)."""

    box_id: str
    frame_id: str
    status: Literal["agree", "class", "low_iou", "unmatched"]
    iou: float = Field(description="with the matched box, else the best with any judged box")
    matched_box_id: str | None


class AgreementOut(BaseModel):
    """Another annotator's label set of an overlap task, box by box against the judged set."""

    label_set_id: int
    author: str
    source: str
    boxes: list[BoxAgreementOut]


class SavedOut(BaseModel):
    label_set_id: int
    version: int


class OutcomeOut(BaseModel):
    task_id: int
    stage: str
    accepted_label_set_id: int | None


class LabelSetOut(BaseModel):
    id: int
    source: str
    author: str
    state: str
    version: int
    labels: dict[str, Any]

    @classmethod
    def of(cls, view: LabelSetView) -> LabelSetOut:
        return cls(
            id=view.id,
            source=view.source,
            author=view.author,
            state=view.state,
            version=view.version,
            labels=content_to_json(view.content),
        )


class FrameRef(BaseModel):
    """A frame of a task: enough to fetch its points and place it in the world."""

    id: str
    captured_at_ns: int
    num_points: int
    sensor_name: str
    sensor_max_range_m: float
    pose: dict[str, float] = Field(
        description="the sensor's pose in the world (map) frame: x, y, z (m), roll, pitch, yaw "
        "(rad; R = Rz(yaw) Ry(pitch) Rx(roll)); the frame's points and boxes are in its sensor "
        "frame"
    )


class ReviewOut(BaseModel):
    id: int
    round: int
    reviewer: str
    annotator: str
    decision: str
    reasons: list[str]
    box_verdicts: list[dict[str, Any]]
    comment: str
    created_at: datetime

    @classmethod
    def of(cls, r: ReviewRecord) -> ReviewOut:
        return cls(
            id=r.id,
            round=r.round,
            reviewer=r.reviewer,
            annotator=r.annotator,
            decision=r.decision,
            reasons=r.reasons,
            box_verdicts=r.box_verdicts,
            comment=r.comment,
            created_at=r.created_at,
        )


class LeaseOut(BaseModel):
    """A leased assignment and what its holder needs (gold tasks look like any other)."""

    assignment_id: int
    stage: str
    round: int
    lease_expires_at: datetime | None
    task_id: int
    priority: float
    ontology_version: int
    key_frame_id: str = Field(description="the frame whose trigger made the task")
    frames: list[FrameRef]
    ontology: dict[str, Any]
    working: LabelSetOut | None
    prelabels: LabelSetOut | None
    others: list[LabelSetOut]
    reviews: list[ReviewOut]

    @classmethod
    def of(cls, view: TaskView) -> LeaseOut:
        return cls(
            assignment_id=view.assignment.id,
            stage=view.assignment.stage,
            round=view.assignment.round,
            lease_expires_at=view.assignment.lease_expires_at,
            task_id=view.task.id,
            priority=view.task.priority,
            ontology_version=view.task.ontology_version,
            key_frame_id=view.task.key_frame_id,
            frames=[
                FrameRef(
                    id=f.id,
                    captured_at_ns=f.captured_at_ns,
                    num_points=f.num_points,
                    sensor_name=f.sensor_name,
                    sensor_max_range_m=f.sensor_max_range_m,
                    pose=f.pose,
                )
                for f in view.frames
            ],
            ontology=view.ontology,
            working=None if view.working is None else LabelSetOut.of(view.working),
            prelabels=None if view.prelabels is None else LabelSetOut.of(view.prelabels),
            others=[LabelSetOut.of(o) for o in view.others],
            reviews=[ReviewOut.of(r) for r in view.reviews],
        )


class TaskOut(BaseModel):
    """A task as operators see it (including whether it is gold)."""

    id: int
    created_at: datetime
    updated_at: datetime
    vehicle: str
    key_frame_id: str
    frame_ids: list[str]
    ontology_version: int
    stage: str
    tier: int
    overlap: int
    round: int
    rejections: int
    priority: float
    spot_check: bool
    is_gold: bool
    is_calibration: bool
    accepted_label_set_id: int | None
    accepted_at: datetime | None
    agreement: float | None

    @classmethod
    def of(cls, t: TaskRecord) -> TaskOut:
        return cls(
            id=t.id,
            created_at=t.created_at,
            updated_at=t.updated_at,
            vehicle=t.vehicle,
            key_frame_id=t.key_frame_id,
            frame_ids=list(t.frame_ids),
            ontology_version=t.ontology_version,
            stage=t.stage,
            tier=t.tier,
            overlap=t.overlap,
            round=t.round,
            rejections=t.rejections,
            priority=t.priority,
            spot_check=t.spot_check,
            is_gold=t.is_gold,
            is_calibration=t.is_calibration,
            accepted_label_set_id=t.accepted_label_set_id,
            accepted_at=t.accepted_at,
            agreement=t.agreement,
        )


class TaskPage(BaseModel):
    items: list[TaskOut]
    total: int
    limit: int
    offset: int


class TaskDetailOut(BaseModel):
    """A task with its routing decision and label sets (operators)."""

    task: TaskOut
    routing: dict[str, Any] | None
    label_sets: list[LabelSetOut]
    reviews: list[ReviewOut]


class SyncOut(BaseModel):
    created: list[int]
    auto_accepted: list[int]
    skipped: int
    unreadable: int


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    task_id: int | None
    label_set_id: int | None
    version: int | None
    details: dict[str, Any]
    note: str

    @classmethod
    def of(cls, a: AuditRecord) -> AuditOut:
        return cls(**a.__dict__)


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: str
    password: str | None = Field(default=None, min_length=10, max_length=256)


class UserOut(BaseModel):
    name: str
    role: str
    calibration: str
    created_at: datetime
    disabled_at: datetime | None

    @classmethod
    def of(cls, u: UserRecord) -> UserOut:
        return cls(
            name=u.name,
            role=u.role,
            calibration=u.calibration,
            created_at=u.created_at,
            disabled_at=u.disabled_at,
        )


class CreatedUserOut(BaseModel):
    user: UserOut
    token: str = Field(description="shown once; store it")


class LoginIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    token: str
    expires_at: datetime | None


class MeOut(BaseModel):
    name: str
    role: str
    calibration: str
    permissions: list[str]


class CalibrationIn(BaseModel):
    state: Literal["pending", "passed", "flagged", "exempt"]
