"""Schemas of ``/safety``: the safety case of a model version with every node's status, the SPIs
and their trend across versions, release snapshots and their diff, the SOTIF view, releases and
their sign-offs. Statuses are ``supported``, ``violated``, ``challenged``, ``undeveloped``
(``backend.safety.spi`` defines each); numbers are null where undefined."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from backend.api.schemas.evidence import EvidenceOut, VerdictOut
from backend.metadata.repositories.safety import SignOffRecord, SnapshotRecord
from backend.safety.report import ReleaseView
from backend.safety.service import MAX_COMMENT
from backend.safety.spi import Assessment, SpiResult, TrendPoint

STATUS = "supported, violated, challenged or undeveloped"


class SpiOut(BaseModel):
    """One SPI judged on one version's evidence."""

    node: str = Field(description="the solution node that states it")
    slice: str
    metric: str
    check: str = Field(description="the evidence row's kind it reads")
    comparator: str
    threshold: float = Field(description="the SPI's own threshold")
    owner: str
    claims: list[str] = Field(description="the goals it conditions")
    status: str = Field(description=STATUS)
    reason: str
    evidence_id: int | None = Field(description="the evidence row read; null when missing")
    value: float | None = Field(
        description="the row's value (no_regression: the paired difference candidate - champion)"
    )
    lo: float | None = Field(description="lower end of the 95 % interval")
    hi: float | None
    gate_threshold: float | None = Field(description="the gate's threshold on that row")
    gate_passed: bool | None
    stale: bool = Field(description="measured on another suite version than the current one")

    @classmethod
    def of(cls, r: SpiResult) -> SpiOut:
        return cls(**r.to_json())


class NodeOut(BaseModel):
    """One GSN node with its status (null for contexts, assumptions, justifications)."""

    id: str
    kind: str = Field(description="goal, strategy, solution, context, assumption, justification")
    text: str
    undeveloped: bool
    supported_by: list[str]
    in_context_of: list[str]
    gate: str | None = Field(description="'verdict': the solution cites the gate's verdict")
    spi: SpiOut | None
    status: str | None = Field(description=STATUS)
    reason: str
    evidence_ids: list[int]


class LinkOut(BaseModel):
    source: str
    target: str
    kind: str = Field(description="supportedBy or inContextOf")


class CaseInfoOut(BaseModel):
    """Which case: its name, file, YAML digest (SHA-256), top goal and open (undeveloped) items."""

    name: str
    brief: str
    source: str
    digest: str
    root: str
    undeveloped: list[str]


class CaseOut(BaseModel):
    """The case judged for one model version on its newest gate verdict."""

    model_version: str
    champion: bool = Field(description="the version is the champion now")
    case: CaseInfoOut
    verdict: VerdictOut | None = Field(description="the newest gate verdict on the version")
    current_suite: str | None = Field(description="the suite version of the newest verdict")
    stale: bool
    top_status: str = Field(description=STATUS)
    nodes: list[NodeOut]
    links: list[LinkOut]

    @classmethod
    def of(cls, a: Assessment, champion: bool) -> CaseOut:
        case = a.case
        nodes = []
        for n in case:
            status = a.nodes[n.id]
            spi = a.spis.get(n.id)
            nodes.append(
                NodeOut(
                    **{k: v for k, v in n.to_json().items() if k != "spi"},
                    spi=None if spi is None else SpiOut.of(spi),
                    status=None if status.status is None else status.status.value,
                    reason=status.reason,
                    evidence_ids=list(status.evidence_ids),
                )
            )
        return cls(
            model_version=a.model_version,
            champion=champion,
            case=CaseInfoOut(
                name=case.name,
                brief=case.brief,
                source=case.source,
                digest=case.digest,
                root=case.root,
                undeveloped=case.undeveloped,
            ),
            verdict=None if a.verdict is None else VerdictOut.of(a.verdict),
            current_suite=a.current_suite,
            stale=a.stale,
            top_status=a.top.value,
            nodes=nodes,
            links=[LinkOut(**link.__dict__) for link in case.links()],
        )


class TrendVersionOut(BaseModel):
    """One gated version of the trend, oldest first."""

    model_version: str
    verdict_id: int
    at: datetime = Field(description="when its newest verdict was recorded")
    suite_version: str
    top_status: str = Field(description=STATUS)
    champion: bool


class TrendPointOut(BaseModel):
    """One SPI on one version."""

    model_version: str
    verdict_id: int | None
    at: datetime | None
    suite_version: str | None
    status: str = Field(description=STATUS)
    reason: str
    evidence_id: int | None
    value: float | None
    lo: float | None
    hi: float | None
    threshold: float
    gate_threshold: float | None
    gate_passed: bool | None
    stale: bool

    @classmethod
    def of(cls, p: TrendPoint) -> TrendPointOut:
        r = p.result
        return cls(
            model_version=p.model_version,
            verdict_id=p.verdict_id,
            at=p.at,
            suite_version=p.suite_version,
            status=r.status.value,
            reason=r.reason,
            evidence_id=r.evidence_id,
            value=r.value,
            lo=r.lo,
            hi=r.hi,
            threshold=r.spi.threshold,
            gate_threshold=r.gate_threshold,
            gate_passed=r.gate_passed,
            stale=r.stale,
        )


class SpiTrendOut(BaseModel):
    """One SPI's definition and its points across versions."""

    node: str
    text: str
    slice: str
    metric: str
    check: str
    comparator: str
    threshold: float
    owner: str
    claims: list[str]
    points: list[TrendPointOut]


class SpisOut(BaseModel):
    """Every SPI's trend across the gated versions, and the open ones (violated or challenged)
    of ``model_version`` (the champion unless asked; null when there is none)."""

    model_version: str | None
    versions: list[TrendVersionOut]
    spis: list[SpiTrendOut]
    open: list[SpiOut]


class SnapshotSummaryOut(BaseModel):
    """A release's snapshot: taken when the version was promoted to champion, never changed."""

    id: int
    model_version: str
    created_at: datetime
    created_by: str
    case_name: str
    case_digest: str = Field(description="SHA-256 of the case YAML text")
    digest: str = Field(description="SHA-256 of the snapshot's canonical JSON content")
    top_status: str = Field(description=STATUS)
    verdict_id: int | None

    @classmethod
    def of(cls, r: SnapshotRecord) -> SnapshotSummaryOut:
        return cls(**{k: v for k, v in r.__dict__.items() if k != "content"})


class SnapshotPage(BaseModel):
    items: list[SnapshotSummaryOut]
    total: int
    limit: int
    offset: int


class SnapshotOut(SnapshotSummaryOut):
    """A snapshot with its content: ``case_text`` (the YAML), ``structure`` (the parsed nodes),
    ``statuses`` (node -> status, reason, evidence_ids), ``spis`` (as ``SpiOut``),
    ``evidence_ids``, ``verdict_id``, ``verdict_suite``, ``current_suite``."""

    content: dict[str, Any]

    @classmethod
    def full(cls, r: SnapshotRecord) -> SnapshotOut:
        return cls(**r.__dict__)


class NodeBriefOut(BaseModel):
    id: str
    kind: str
    text: str


class ChangeOut(BaseModel):
    """A node or SPI whose ``fields`` changed, with their values before and after."""

    id: str
    fields: list[str]
    before: dict[str, Any]
    after: dict[str, Any]


class SpiChangeOut(ChangeOut):
    slice: str
    metric: str


class StatusChangeOut(BaseModel):
    id: str
    before: str | None
    after: str | None


class BeforeAfterOut(BaseModel):
    before: str
    after: str


class DiffOut(BaseModel):
    """What changed from the ``base`` release's snapshot to the ``target``'s."""

    base: str
    target: str
    case_changed: bool
    case_digest: BeforeAfterOut
    top_status: BeforeAfterOut
    nodes_added: list[NodeBriefOut]
    nodes_removed: list[NodeBriefOut]
    nodes_changed: list[ChangeOut]
    links_added: list[LinkOut]
    links_removed: list[LinkOut]
    status_changes: list[StatusChangeOut]
    spi_changes: list[SpiChangeOut]


class ConditionCheckOut(BaseModel):
    evidence_id: int
    kind: str
    metric: str
    value: float | None
    lo: float | None
    hi: float | None
    threshold: float | None
    passed: bool | None


class ConditionOut(BaseModel):
    """A triggering condition the suite knows (SOTIF known area)."""

    slice: str
    kind: str = Field(description="class, distance, occlusion, weather or sparsity")
    status: str | None = Field(description=f"{STATUS}; null when no SPI argues over it")
    argued: bool = Field(description="an SPI of the case argues over the slice")
    in_suite: bool = Field(description="the current suite holds the slice")
    spis: list[str]
    gate_passed: bool | None
    checks: list[ConditionCheckOut]
    accepted_objects: int | None = Field(description="accepted labelled objects of the class")


class DiscoveryOut(BaseModel):
    """A class of captured, accepted labels the suite does not cover (SOTIF unknown area)."""

    class_name: str
    objects: int
    frames: int
    tasks: int
    vehicles: list[str]
    first_accepted: datetime | None
    last_accepted: datetime | None


class SotifOut(BaseModel):
    model_version: str
    verdict_id: int | None
    suite_version: str | None
    current_suite: str | None
    known: list[ConditionOut]
    unknown: list[DiscoveryOut]


class SignOffIn(BaseModel):
    """A safety engineer's sign-off of a release."""

    model_config = ConfigDict(extra="forbid")

    comment: str = Field(min_length=1, max_length=MAX_COMMENT, pattern=r"^[^\x00]*\S[^\x00]*$")


class SignOffOut(BaseModel):
    id: int
    model_version: str
    signed_at: datetime
    signed_by: str
    comment: str
    verdict_id: int
    snapshot_id: int | None = Field(description="the release snapshot signed, if released")
    case_digest: str
    snapshot_digest: str = Field(description="digest of the case content signed")

    @classmethod
    def of(cls, r: SignOffRecord) -> SignOffOut:
        return cls(**r.__dict__)


class EstimateOut(BaseModel):
    """A figure with its 95 % bootstrap interval (null where undefined, e.g. no objects)."""

    value: float | None
    lo: float | None
    hi: float | None


class SliceFigureOut(BaseModel):
    """One figure of one suite slice as the gate saw it: each model's own estimate and the paired
    difference candidate - champion, on ``frames`` frames with ``support`` objects behind it."""

    slice: str
    metric: str
    champion: EstimateOut
    candidate: EstimateOut
    difference: EstimateOut
    frames: int
    support: int

    @classmethod
    def from_details(cls, details: dict[str, Any]) -> list[SliceFigureOut]:
        """The figures a verdict's details keep (none on verdicts recorded before they were)."""
        return [cls.model_validate(f) for f in details.get("figures", [])]


class ReleaseOut(BaseModel):
    """A model version's release: the gate's verdict and every check (candidate against
    champion per slice), the case's top status, the snapshot, the sign-offs, and why a sign-off
    would be refused (null: the gate lets it be signed)."""

    model_version: str
    champion: bool
    verdict: VerdictOut | None
    checks: list[EvidenceOut]
    figures: list[SliceFigureOut] = Field(
        description="champion and candidate per slice and metric (the comparison the gate judged)"
    )
    failed_slices: list[str]
    top_status: str = Field(description=STATUS)
    snapshot: SnapshotSummaryOut | None
    content_digest: str = Field(description="the snapshot's digest, or the content's now")
    signoffs: list[SignOffOut]
    sign_off_blocker: str | None

    @classmethod
    def of(cls, view: ReleaseView, champion: bool) -> ReleaseOut:
        verdict = view.assessment.verdict
        blocker = None
        if verdict is None:
            blocker = "the version has no release-gate verdict"
        elif not (verdict.passed or verdict.bypassed):
            blocker = f"gate verdict {verdict.id} failed and no admin bypassed it"
        return cls(
            model_version=view.model_version,
            champion=champion,
            verdict=None if verdict is None else VerdictOut.of(verdict),
            checks=[EvidenceOut.of(r) for r in view.rows],
            figures=[] if verdict is None else SliceFigureOut.from_details(verdict.details),
            failed_slices=[] if verdict is None else list(verdict.details.get("failed_slices", [])),
            top_status=view.assessment.top.value,
            snapshot=None if view.snapshot is None else SnapshotSummaryOut.of(view.snapshot),
            content_digest=view.content_digest,
            signoffs=[SignOffOut.of(s) for s in view.signoffs],
            sign_off_blocker=blocker,
        )
