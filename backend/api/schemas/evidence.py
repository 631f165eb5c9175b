"""Schemas of ``/evidence``: release-gate verdicts, their evidence rows, a bypass."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from backend.metadata.repositories.evidence import EvidenceRecord, VerdictRecord
from backend.release.evidence import MAX_REASON


class VerdictOut(BaseModel):
    id: int
    run_id: str
    created_at: datetime
    model_version: str = Field(description="the candidate's version")
    champion_version: str
    dataset_digest: str = Field(description="the training data's dataset version")
    suite_version: str = Field(description="SHA-256 of the edge-case suite's manifest content")
    passed: bool
    bypassed: bool = Field(description="an admin released it despite a failure")
    summary: str
    details: dict[str, Any]

    @classmethod
    def of(cls, record: VerdictRecord) -> VerdictOut:
        return cls(**record.__dict__)


class EvidenceOut(BaseModel):
    id: int
    verdict_id: int
    run_id: str
    at: datetime
    kind: str = Field(
        description="floor, ceiling, no_regression, label_agreement, drift, missing, verdict, "
        "bypass"
    )
    model_version: str
    dataset_digest: str
    suite_version: str
    slice: str
    metric: str
    value: float | None
    lo: float | None = Field(description="lower end of the 95 % bootstrap interval")
    hi: float | None
    threshold: float | None
    margin: float | None = Field(description=">= 0 passes")
    passed: bool | None
    gated: bool = Field(description="false: reported only")
    actor: str | None = Field(description="who bypassed (kind bypass)")
    note: str

    @classmethod
    def of(cls, record: EvidenceRecord) -> EvidenceOut:
        return cls(**record.__dict__)


class VerdictDetailOut(VerdictOut):
    evidence: list[EvidenceOut]


class VerdictPage(BaseModel):
    items: list[VerdictOut]
    total: int
    limit: int
    offset: int


class BypassIn(BaseModel):
    """Why a failed gate is bypassed (kept as evidence, with who did it)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=MAX_REASON, pattern=r"^[^\x00]*\S[^\x00]*$")
