"""``/datasets``: immutable, content-addressed versions of the accepted labels, their manifests
and exports; ``/imports``: existing KITTI and SUSTechPOINTS labels in, as gold or pre-labels.

A version's digest is the SHA-256 of its manifest (``GET /datasets/{digest}/manifest`` returns
those exact bytes, so a client can check them). Exports stream a zip whose conventions each
format's module states (``backend.datasets.exports``); every archive carries ``longtail.json``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from backend.api.deps import ServicesDep, require
from backend.auth.people import Principal, utcnow
from backend.auth.roles import Permission
from backend.datasets.exports import FORMATS, export_zip
from backend.datasets.imports import ImportReport, LabelImporter
from backend.datasets.snapshot import DatasetFilter
from backend.datasets.uploads import read_files
from backend.datasets.versions import DatasetVersions
from backend.metadata.repositories.datasets import DatasetVersionRecord

router = APIRouter(tags=["datasets"])

Builder = Annotated[Principal, Depends(require(Permission.MANAGE_DATASETS))]
Reader = Annotated[Principal, Depends(require(Permission.READ_DATASETS))]
Manager = Annotated[Principal, Depends(require(Permission.MANAGE_TASKS))]
Digest = Annotated[
    str, Path(pattern=r"^[0-9a-f]{64}$", description="the version's SHA-256 (64 hex digits)")
]
ExportFormat = Literal["kitti", "nuscenes", "openlabel", "semantickitti"]
#: timestamps are signed 64-bit nanoseconds in the database
NS_MAX = 2**63 - 1
#: printable names (PostgreSQL text refuses NUL; control characters only garble listings)
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=PRINTABLE)]


class DatasetIn(BaseModel):
    """Which accepted tasks become the version (every filter is optional; all must hold)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(default=None, description="defaults to dataset-<digest prefix>")
    vehicles: list[Annotated[str, Field(min_length=1, max_length=64, pattern=PRINTABLE)]] = Field(
        default_factory=list, max_length=1000
    )
    tiers: list[Annotated[int, Field(ge=1, le=3)]] = Field(default_factory=list, max_length=3)
    classes: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=200,
        description="tasks whose accepted labels hold a box or a point of one of these classes",
    )
    captured_from_ns: int | None = Field(
        default=None, ge=-NS_MAX, le=NS_MAX, description="key frame captured at or after"
    )
    captured_to_ns: int | None = Field(
        default=None, ge=-NS_MAX, le=NS_MAX, description="key frame captured before"
    )
    accepted_from: AwareDatetime | None = Field(default=None, description="accepted at or after")
    accepted_to: AwareDatetime | None = Field(default=None, description="accepted before")

    def filters(self) -> DatasetFilter:
        return DatasetFilter(
            vehicles=tuple(self.vehicles),
            tiers=tuple(self.tiers),
            classes=tuple(self.classes),
            captured_from_ns=self.captured_from_ns,
            captured_to_ns=self.captured_to_ns,
            accepted_from=self.accepted_from,
            accepted_to=self.accepted_to,
        )


class DatasetOut(BaseModel):
    digest: str = Field(description="SHA-256 of the manifest")
    name: str
    created_at: datetime
    created_by: str
    ontology_version: int
    frame_count: int
    task_count: int
    manifest_key: str = Field(description="where the manifest lives in the blob store")

    @classmethod
    def of(cls, record: DatasetVersionRecord) -> DatasetOut:
        return cls(**record.__dict__)


class DatasetDetailOut(DatasetOut):
    summary: dict[str, Any] = Field(description="boxes by class, tiers, vehicles, ...")


class DatasetPage(BaseModel):
    items: list[DatasetOut]
    total: int
    limit: int
    offset: int


class ImportOut(BaseModel):
    target: str
    format: str
    frames: int
    boxes: int
    tasks: list[int] = Field(description="gold tasks made, or tasks whose pre-labels changed")
    classes: dict[str, str] = Field(description="each type met -> the class it became")
    skipped: dict[str, int] = Field(description="types left out (DontCare, Misc) -> objects")
    unknown: dict[str, int] = Field(description="types labelled unknown_obstacle -> objects")

    @classmethod
    def of(cls, report: ImportReport) -> ImportOut:
        return cls(**report.__dict__)


def _versions(services: ServicesDep) -> DatasetVersions:
    return DatasetVersions(services.db, services.blobs, utcnow)


Versions = Annotated[DatasetVersions, Depends(_versions)]


@router.post(
    "/datasets",
    response_model=DatasetOut,
    status_code=201,
    responses={200: {"model": DatasetOut, "description": "the same content exists already"}},
)
def create_dataset(
    body: DatasetIn, who: Builder, versions: Versions, response: Response
) -> DatasetOut:
    """Freeze the accepted labels that pass the filters into a version (201), or return the
    existing version of the same content (200); gold tasks are never included."""
    result = versions.build(body.filters(), author=who.name, name=body.name)
    if not result.created:
        response.status_code = 200
    return DatasetOut.of(result.version)


@router.get("/datasets", response_model=DatasetPage)
def list_datasets(
    _who: Reader,
    versions: Versions,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=NS_MAX)] = 0,
) -> DatasetPage:
    """Versions, newest first."""
    items, total = versions.page(limit=limit, offset=offset)
    return DatasetPage(
        items=[DatasetOut.of(r) for r in items], total=total, limit=limit, offset=offset
    )


@router.get("/datasets/{digest}", response_model=DatasetDetailOut)
def get_dataset(digest: Digest, _who: Reader, versions: Versions) -> DatasetDetailOut:
    """One version with the summary of its manifest."""
    record = versions.get(digest)
    manifest = versions.manifest(digest)
    return DatasetDetailOut(**record.__dict__, summary=dict(manifest.summary))


@router.get(
    "/datasets/{digest}/manifest",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
def get_manifest(digest: Digest, _who: Reader, versions: Versions) -> Response:
    """The manifest's exact bytes (their SHA-256 is the digest): frames, tasks, label digests,
    routing, and who labelled, reviewed, adjudicated and accepted what."""
    return Response(versions.manifest_bytes(digest), media_type="application/json")


@router.get(
    "/datasets/{digest}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
def export_dataset(
    digest: Digest,
    _who: Reader,
    versions: Versions,
    format: Annotated[ExportFormat, Query(description=", ".join(FORMATS))],
) -> StreamingResponse:
    """The version as a zip archive in ``format``, streamed as it is built."""
    chunks = export_zip(versions, digest, format)
    return StreamingResponse(
        chunks,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="longtail-{digest[:12]}-{format}.zip"'
        },
    )


UPLOAD_BODY = {
    "required": True,
    "content": {
        "application/zip": {"schema": {"type": "string", "format": "binary"}},
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"files": {"type": "object", "additionalProperties": {}}},
                "required": ["files"],
            }
        },
    },
}


@router.post(
    "/imports",
    response_model=ImportOut,
    status_code=201,
    openapi_extra={"requestBody": UPLOAD_BODY},
)
async def import_labels(
    request: Request,
    who: Manager,
    services: ServicesDep,
    format: Annotated[Literal["kitti", "sustechpoints"], Query()],
    target: Annotated[Literal["gold", "prelabels"], Query()],
    unknown: Annotated[
        Literal["refuse", "unknown_obstacle"],
        Query(description="types with no class: refuse the upload, or label unknown_obstacle"),
    ] = "refuse",
    calibration: Annotated[bool, Query(description="gold: a calibration task")] = False,
    group: Annotated[
        Literal["frame", "upload"],
        Query(description="gold: one task per frame, or one task (a sequence) for the upload"),
    ] = "frame",
) -> ImportOut:
    """Import label files for stored frames from a zip archive (``label_2/`` + ``calib/``, or
    ``label/``) or ``{"files": {path: content}}``: as gold tasks, or as new pre-labels of the
    frames' tasks. Every file is read and checked before anything is stored."""
    data = await request.body()
    files = await run_in_threadpool(read_files, data, request.headers.get("content-type", ""))
    importer = LabelImporter(services.db, services.blobs, services.annotation.gold, utcnow)
    report = await run_in_threadpool(
        lambda: importer.run(
            files,
            fmt=format,
            target=target,
            author=who.name,
            unknown=unknown,
            calibration=calibration,
            group=group,
        )
    )
    return ImportOut.of(report)
