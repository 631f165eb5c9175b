"""``/safety``: the safety case of a model version (every node with its status and evidence),
the SPIs across versions, the snapshots of released cases and their diff, the SOTIF view,
releases with their sign-offs, and the exported report. Reading takes ``read_evidence`` (the
case is made of the gate's evidence); signing off takes ``sign_off_release`` (safety engineers).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from backend.api.deps import SafetyDep, require
from backend.api.schemas.release import VERSION
from backend.api.schemas.safety import (
    CaseOut,
    DiffOut,
    ReleaseOut,
    SignOffIn,
    SignOffOut,
    SnapshotOut,
    SnapshotPage,
    SnapshotSummaryOut,
    SotifOut,
    SpiOut,
    SpisOut,
    SpiTrendOut,
    TrendPointOut,
    TrendVersionOut,
)
from backend.auth.people import Principal
from backend.auth.roles import Permission
from backend.safety.spi import Status

router = APIRouter(prefix="/safety", tags=["safety"])

Reader = Annotated[Principal, Depends(require(Permission.READ_EVIDENCE))]
Signer = Annotated[Principal, Depends(require(Permission.SIGN_OFF_RELEASE))]
Version = Annotated[str, Path(pattern=VERSION, description="the model version")]
MaybeVersion = Annotated[
    str | None,
    Query(pattern=VERSION, description="a model version; the champion when left out"),
]
OFFSET_MAX = 2**63 - 1


@router.get("/case", response_model=CaseOut)
def get_case(_who: Reader, safety: SafetyDep, model_version: MaybeVersion = None) -> CaseOut:
    """The case judged for ``model_version`` (the champion when left out) on its newest gate
    verdict: every node with its status, reason and evidence rows, and every link."""
    assessment = safety.assessment(model_version)
    return CaseOut.of(assessment, assessment.model_version == safety.champion())


@router.get("/spis", response_model=SpisOut)
def get_spis(
    _who: Reader,
    safety: SafetyDep,
    model_version: MaybeVersion = None,
    limit: Annotated[int, Query(ge=1, le=500, description="newest gated versions")] = 50,
) -> SpisOut:
    """Every SPI across the newest ``limit`` gated versions (oldest first): value, interval,
    threshold and status per version; and the open ones (violated or challenged) of
    ``model_version`` (the champion when left out), with their owners."""
    assessments, points = safety.trend(limit=limit)
    champion = safety.champion()
    focus_version = model_version or champion
    focus = None if focus_version is None else safety.assessment(focus_version)
    versions = [
        TrendVersionOut(
            model_version=a.model_version,
            verdict_id=a.verdict.id,
            at=a.verdict.created_at,
            suite_version=a.verdict.suite_version,
            top_status=a.top.value,
            champion=a.model_version == champion,
        )
        for a in assessments
        if a.verdict is not None
    ]
    spis = [
        SpiTrendOut(
            node=spi.node,
            text=safety.case.node(spi.node).text,
            **spi.to_json(),
            claims=list(safety.case.claims(spi.node)),
            points=[TrendPointOut.of(p) for p in points.get(spi.node, [])],
        )
        for spi in safety.case.spis()
    ]
    open_items = (
        []
        if focus is None
        else [
            SpiOut.of(r)
            for r in focus.spis.values()
            if r.status in (Status.VIOLATED, Status.CHALLENGED)
        ]
    )
    return SpisOut(
        model_version=None if focus is None else focus.model_version,
        versions=versions,
        spis=spis,
        open=open_items,
    )


@router.get("/snapshots", response_model=SnapshotPage)
def list_snapshots(
    _who: Reader,
    safety: SafetyDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> SnapshotPage:
    """Snapshots of released cases, newest first."""
    items, total = safety.snapshots(limit=limit, offset=offset)
    return SnapshotPage(
        items=[SnapshotSummaryOut.of(s) for s in items], total=total, limit=limit, offset=offset
    )


@router.get("/snapshots/{version}", response_model=SnapshotOut)
def get_snapshot(version: Version, _who: Reader, safety: SafetyDep) -> SnapshotOut:
    """The case as it stood when ``version`` was released (404 if it never was)."""
    return SnapshotOut.full(safety.snapshot(version))


@router.get("/snapshots/{base}/diff/{target}", response_model=DiffOut)
def diff_snapshots(
    base: Annotated[str, Path(pattern=VERSION, description="the earlier release")],
    target: Annotated[str, Path(pattern=VERSION, description="the later release")],
    _who: Reader,
    safety: SafetyDep,
) -> DiffOut:
    """What changed between two releases' cases: nodes, links, statuses and SPI figures."""
    return DiffOut(**safety.diff(base, target))


@router.get("/sotif", response_model=SotifOut)
def get_sotif(_who: Reader, safety: SafetyDep, model_version: MaybeVersion = None) -> SotifOut:
    """The SOTIF view of ``model_version`` (the champion when left out): the triggering
    conditions the suite knows with their status, and the field discoveries it does not cover."""
    return SotifOut(**safety.sotif(model_version))


@router.get("/releases/{version}", response_model=ReleaseOut)
def get_release(version: Version, _who: Reader, safety: SafetyDep) -> ReleaseOut:
    """The release of ``version``: gate verdict and checks, case status, snapshot, sign-offs."""
    return ReleaseOut.of(safety.release(version), version == safety.champion())


@router.post("/releases/{version}/signoffs", response_model=SignOffOut, status_code=201)
def sign_off(version: Version, body: SignOffIn, who: Signer, safety: SafetyDep) -> SignOffOut:
    """Sign off the release of ``version`` (safety engineers), recorded with the digest of the
    case signed and audited. 409 when the gate's verdict failed and was not bypassed, when the
    version was never gated, or when the caller signed it already."""
    return SignOffOut.of(safety.sign_off(who, version, body.comment))


@router.get(
    "/releases/{version}/report.html",
    response_class=Response,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
)
def get_report(version: Version, _who: Reader, safety: SafetyDep) -> Response:
    """The release report: one self-contained HTML file (no external asset) with the case tree
    and statuses, every SPI, every gate check, the sign-offs and the digests."""
    return Response(
        safety.report(version),
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="longtail-safety-{version}.html"'},
    )
