"""Work: ``POST /work/next`` leases a task; ``/work/{assignment}`` reads it, saves labels
(versioned: 409 on a stale base), submits, renews or releases the lease, reviews and
adjudicates; ``/work/{assignment}/frames/{frame}/points`` sends the frame's points as binary (coarse level
first with ``encoding=lod``), ``/work/{assignment}/upcoming`` names the task the person will
most likely get next and sends its frames' points the same way (for the tool to prefetch),
``.../structure`` each point's height above the ground and cluster (binary), ``/work/{assignment}/fit``
fits a box to the points inside a rough one (the labelling tool's auto-fit, on the vehicle's own
box fitter) and ``/work/{assignment}/inside`` lists the points inside a box (binary)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends
from fastapi.responses import Response

from backend.annotation.autofit import fit_box
from backend.annotation.box_agreement import box_agreement
from backend.annotation.lod import encode_lod
from backend.annotation.ontology import Ontology
from backend.annotation.qa_adapter import settings_for
from backend.annotation.structure import point_structure, points_inside
from backend.annotation.workflow import BoxVerdict
from backend.api.deps import AnnotationDep, AssignmentId, CurrentUser, ServicesDep, require
from backend.api.schemas.annotation import (
    AdjudicationIn,
    AgreementOut,
    BoxAgreementOut,
    FitIn,
    FitOut,
    InsideIn,
    LeaseOut,
    OutcomeOut,
    ReviewIn,
    SavedOut,
    SaveIn,
    SubmitIn,
    UpcomingOut,
)
from backend.auth.people import Principal
from backend.auth.roles import Permission
from backend.errors import NotFoundError, UnavailableError
from backend.metadata.records import FrameRecord
from core.formats.codec import decode_frame

router = APIRouter(prefix="/work", tags=["annotation"])

Labeller = Annotated[Principal, Depends(require(Permission.LABEL))]


@router.post("/next", response_model=LeaseOut, responses={204: {"description": "nothing waiting"}})
def next_task(
    who: CurrentUser,
    annotation: AnnotationDep,
    stage: Literal["annotate", "review", "adjudicate"] = "annotate",
) -> LeaseOut:
    """Lease the caller's next task at ``stage`` (their current lease if they hold one);
    204 with ``X-Longtail-Reason`` when nothing is waiting for them."""
    lease = annotation.queue.next(who, stage)
    return LeaseOut.of(annotation.editor.view(who, lease.assignment.id))


@router.get("/{assignment_id}", response_model=LeaseOut)
def read(assignment_id: AssignmentId, who: CurrentUser, annotation: AnnotationDep) -> LeaseOut:
    """The leased task with the label sets the caller may see."""
    return LeaseOut.of(annotation.editor.view(who, assignment_id))


@router.put("/{assignment_id}/labels", response_model=SavedOut)
def save(
    assignment_id: AssignmentId, body: SaveIn, who: Labeller, annotation: AnnotationDep
) -> SavedOut:
    """Save a new revision of the caller's labels; 409 with ``current_version`` when the label
    set moved on since ``base_version``; 422 naming the box or frame for invalid labels."""
    version = annotation.editor.save(
        who, assignment_id, body.base_version, body.labels.body(), draft=body.draft
    )
    view = annotation.editor.view(who, assignment_id)
    assert view.working is not None
    return SavedOut(label_set_id=view.working.id, version=version)


@router.post("/{assignment_id}/submit", response_model=OutcomeOut)
def submit(
    assignment_id: AssignmentId, body: SubmitIn, who: Labeller, annotation: AnnotationDep
) -> OutcomeOut:
    """Finish the annotation (with final labels, or the saved ``base_version``)."""
    outcome = annotation.workflow.submit(
        who, assignment_id, body.base_version, None if body.labels is None else body.labels.body()
    )
    return OutcomeOut(**outcome.__dict__)


@router.post("/{assignment_id}/renew", response_model=LeaseOut)
def renew(assignment_id: AssignmentId, who: CurrentUser, annotation: AnnotationDep) -> LeaseOut:
    """Extend the lease (the tool calls this while the person works)."""
    annotation.queue.renew(who, assignment_id)
    return LeaseOut.of(annotation.editor.view(who, assignment_id))


@router.post("/{assignment_id}/release", status_code=204)
def release(assignment_id: AssignmentId, who: CurrentUser, annotation: AnnotationDep) -> None:
    """Give the task back to the queue (saved work stays)."""
    annotation.queue.release(who, assignment_id)


@router.post("/{assignment_id}/review", response_model=OutcomeOut)
def review(
    assignment_id: AssignmentId,
    body: ReviewIn,
    who: Annotated[Principal, Depends(require(Permission.REVIEW))],
    annotation: AnnotationDep,
) -> OutcomeOut:
    """Approve, reject (reason codes per frame and box, comments) or fix-and-accept."""
    outcome = annotation.workflow.review(
        who,
        assignment_id,
        body.decision,
        reasons=body.reasons,
        box_verdicts=[BoxVerdict(v.box_id, tuple(v.reasons), v.comment) for v in body.box_verdicts],
        comment=body.comment,
        fixed=None if body.fixed is None else body.fixed.body(),
    )
    return OutcomeOut(**outcome.__dict__)


@router.post("/{assignment_id}/adjudicate", response_model=OutcomeOut)
def adjudicate(
    assignment_id: AssignmentId,
    body: AdjudicationIn,
    who: Annotated[Principal, Depends(require(Permission.ADJUDICATE))],
    annotation: AnnotationDep,
) -> OutcomeOut:
    """The senior panel closes an escalated task."""
    outcome = annotation.workflow.adjudicate(
        who,
        assignment_id,
        accept_label_set=body.accept_label_set,
        fixed=None if body.fixed is None else body.fixed.body(),
        comment=body.comment,
    )
    return OutcomeOut(**outcome.__dict__)


@router.get("/{assignment_id}/agreement", response_model=list[AgreementOut])
def agreement(
    assignment_id: AssignmentId, who: CurrentUser, services: ServicesDep
) -> list[AgreementOut]:
    """For review and adjudication: every other annotator's label set of the task (the overlap
    annotators beside the set being judged), each box with how it agrees with the judged set
    (``backend.annotation.box_agreement``: the project's matcher at the configured IoU
    thresholds); empty when there are none (a one-annotator task) or while annotating."""
    view = services.annotation.editor.view(who, assignment_id)
    if view.working is None:
        return []
    settings = settings_for(Ontology.from_document(view.ontology), services.config.annotation)
    return [
        AgreementOut(
            label_set_id=other.id,
            author=other.author,
            source=other.source,
            boxes=[
                BoxAgreementOut(**vars(found))
                for found in box_agreement(other.content, view.working.content, settings)
            ],
        )
        for other in view.others
        if other.source == "annotator"
    ]


def _leased_frame(
    services: ServicesDep, who: Principal, assignment_id: int, frame_id: str
) -> FrameRecord:
    frames = services.annotation.editor.leased_frames(who, assignment_id)
    frame = next((f for f in frames if f.id == frame_id), None)
    if frame is None:
        raise NotFoundError(f"frame {frame_id!r} is not a frame of assignment {assignment_id}")
    return frame


@router.get(
    "/{assignment_id}/frames/{frame_id}/points",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def points(
    assignment_id: AssignmentId,
    frame_id: str,
    who: CurrentUser,
    services: ServicesDep,
    encoding: Literal["f32", "lod", "codec"] = "f32",
) -> Response:
    """A frame of the leased task: ``f32`` raw little-endian float32 (N, 4) x, y, z, intensity
    in the sensor frame (metres, intensity 0..1); ``lod`` the same points coarse level first
    (``backend.annotation.lod``: the page draws a spatially even subset while the rest
    arrives, then restores the frame's order); ``codec`` the stored Longtail payload."""
    frame = _leased_frame(services, who, assignment_id, frame_id)
    return _points_response(services, frame, encoding)


def _points_response(
    services: ServicesDep, frame: FrameRecord, encoding: Literal["f32", "lod", "codec"]
) -> Response:
    payload = services.blobs.get(frame.blob_key)
    headers = {"X-Longtail-Points": str(frame.num_points), "Cache-Control": "private, max-age=3600"}
    if encoding == "codec":
        return Response(payload, media_type="application/octet-stream", headers=headers)
    cloud = np.ascontiguousarray(decode_frame(payload, source=f"frame {frame.id}"), dtype="<f4")
    body = encode_lod(cloud) if encoding == "lod" else cloud.tobytes()
    return Response(body, media_type="application/octet-stream", headers=headers)


@router.get("/{assignment_id}/upcoming", response_model=UpcomingOut)
def upcoming(
    assignment_id: AssignmentId, who: CurrentUser, annotation: AnnotationDep
) -> UpcomingOut:
    """The task the caller will most likely get after this assignment, at its stage, for the
    tool to fetch its key frame in the background (``.../upcoming/frames/{frame}/points``); a
    guess, never a lease: someone else may take it first, and a random gold task may come
    instead. 204 when the queue has nothing else for them."""
    task = annotation.queue.upcoming(who, assignment_id)
    if task is None:
        raise UnavailableError(
            f"nothing else is waiting for {who.name} after assignment {assignment_id}"
        )
    return UpcomingOut(
        task_id=task.id, key_frame_id=task.key_frame_id, frame_ids=list(task.frame_ids)
    )


@router.get(
    "/{assignment_id}/upcoming/frames/{frame_id}/points",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def upcoming_points(
    assignment_id: AssignmentId,
    frame_id: str,
    who: CurrentUser,
    services: ServicesDep,
    encoding: Literal["f32", "lod", "codec"] = "lod",
) -> Response:
    """A frame of the caller's upcoming task (``/upcoming``), as ``.../frames/{frame}/points``
    sends it; 404 when the frame is not (or no longer) a frame of that task."""
    task = services.annotation.queue.upcoming(who, assignment_id)
    if task is None or frame_id not in task.frame_ids:
        raise NotFoundError(
            f"frame {frame_id!r} is not a frame of the task after assignment {assignment_id}"
        )
    with services.db.transaction(f"read frame {frame_id}") as uow:
        frame = uow.frames.get(frame_id)
    if frame is None:
        raise NotFoundError(f"no frame with id {frame_id!r}")
    return _points_response(services, frame, encoding)


@router.post("/{assignment_id}/fit", response_model=FitOut)
def fit(
    assignment_id: AssignmentId, body: FitIn, who: CurrentUser, services: ServicesDep
) -> FitOut:
    """Fit a box to the object inside the rough ``box`` of a leased frame (ground and stray
    points ignored, heading from the points, the rough heading's front kept); 422 naming the
    counts when too few object points are inside it."""
    frame = _leased_frame(services, who, assignment_id, body.frame_id)
    cloud = decode_frame(services.blobs.get(frame.blob_key), source=f"frame {body.frame_id}")
    result = fit_box(np.ascontiguousarray(cloud, dtype=np.float32), body.box)
    return FitOut(box=list(result.box), num_points=result.num_points)


BINARY: dict[int | str, dict[str, Any]] = {200: {"content": {"application/octet-stream": {}}}}


@router.get(
    "/{assignment_id}/frames/{frame_id}/structure", response_class=Response, responses=BINARY
)
def structure(
    assignment_id: AssignmentId, frame_id: str, who: CurrentUser, services: ServicesDep
) -> Response:
    """What the point-segmentation tools select by, for each point of a frame of the leased
    task, binary little-endian: N float32 heights above the estimated ground (metres, NaN
    outside the ground grid), then N int32 cluster ids (-1: ground or no cluster); the vehicle's
    own ground estimate and clustering."""
    frame = _leased_frame(services, who, assignment_id, frame_id)
    cloud = decode_frame(services.blobs.get(frame.blob_key), source=f"frame {frame_id}")
    found = point_structure(np.ascontiguousarray(cloud, dtype=np.float32))
    return Response(
        found.to_bytes(),
        media_type="application/octet-stream",
        headers={
            "X-Longtail-Points": str(frame.num_points),
            "Cache-Control": "private, max-age=3600",
        },
    )


@router.post("/{assignment_id}/inside", response_class=Response, responses=BINARY)
def inside(
    assignment_id: AssignmentId, body: InsideIn, who: CurrentUser, services: ServicesDep
) -> Response:
    """The indices (ascending, little-endian uint32) of the points of a leased frame inside
    ``box`` grown by ``margin_m`` on each side: the project's one points-in-box test."""
    frame = _leased_frame(services, who, assignment_id, body.frame_id)
    cloud = decode_frame(services.blobs.get(frame.blob_key), source=f"frame {body.frame_id}")
    found = points_inside(np.ascontiguousarray(cloud, dtype=np.float32), body.box, body.margin_m)
    return Response(
        found.astype("<u4").tobytes(),
        media_type="application/octet-stream",
        headers={"X-Longtail-Points": str(found.shape[0])},
    )
