"""Gate verdicts and their evidence rows (append-only: nothing here updates or deletes)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.errors import NotFoundError
from backend.metadata.models.evidence import EvidenceRow, GateVerdictRow
from backend.metadata.records import utc


@dataclass(frozen=True)
class VerdictRecord:
    """A stored gate verdict (``bypassed``: an admin released it despite a failure)."""

    id: int
    run_id: str
    created_at: datetime
    model_version: str
    champion_version: str
    dataset_digest: str
    suite_version: str
    passed: bool
    bypassed: bool
    summary: str
    details: dict[str, Any]


@dataclass(frozen=True)
class EvidenceRecord:
    """One evidence row (numbers None where undefined)."""

    id: int
    verdict_id: int
    run_id: str
    at: datetime
    kind: str
    model_version: str
    dataset_digest: str
    suite_version: str
    slice: str
    metric: str
    value: float | None
    lo: float | None
    hi: float | None
    threshold: float | None
    margin: float | None
    passed: bool | None
    gated: bool
    actor: str | None
    note: str


@dataclass(frozen=True)
class NewEvidence:
    """An evidence row to write (the verdict's identity is filled in by the repository)."""

    kind: str
    slice: str
    metric: str
    value: float | None = None
    lo: float | None = None
    hi: float | None = None
    threshold: float | None = None
    margin: float | None = None
    passed: bool | None = None
    gated: bool = True
    actor: str | None = None
    note: str = ""


def _num(v: float | None) -> float | None:
    """NaN and infinities are stored as NULL (PostgreSQL would keep NaN, SQLite would not)."""
    return None if v is None or not math.isfinite(v) else float(v)


def _evidence(r: EvidenceRow) -> EvidenceRecord:
    return EvidenceRecord(
        r.id,
        r.verdict_id,
        r.run_id,
        utc(r.at),
        r.kind,
        r.model_version,
        r.dataset_digest,
        r.suite_version,
        r.slice,
        r.metric,
        r.value,
        r.lo,
        r.hi,
        r.threshold,
        r.margin,
        r.passed,
        r.gated,
        r.actor,
        r.note,
    )


class EvidenceRepository:
    """Verdicts and evidence in one unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add_verdict(
        self,
        *,
        run_id: str,
        at: datetime,
        model_version: str,
        champion_version: str,
        dataset_digest: str,
        suite_version: str,
        passed: bool,
        summary: str,
        details: dict[str, Any],
        rows: list[NewEvidence],
    ) -> int:
        """Store a verdict and its evidence rows (in the caller's transaction); its id."""
        verdict = GateVerdictRow(
            run_id=run_id,
            created_at=at,
            model_version=model_version,
            champion_version=champion_version,
            dataset_digest=dataset_digest,
            suite_version=suite_version,
            passed=passed,
            summary=summary,
            details=details,
        )
        self._session.add(verdict)
        self._session.flush()
        for row in rows:
            self._add(verdict, row, at)
        return verdict.id

    def add_evidence(self, verdict_id: int, row: NewEvidence, at: datetime) -> int:
        """Append one evidence row to an existing verdict (NotFoundError if none)."""
        verdict = self._session.get(GateVerdictRow, verdict_id)
        if verdict is None:
            raise NotFoundError(f"no gate verdict with id {verdict_id}")
        return self._add(verdict, row, at)

    def _add(self, verdict: GateVerdictRow, row: NewEvidence, at: datetime) -> int:
        record = EvidenceRow(
            verdict_id=verdict.id,
            run_id=verdict.run_id,
            at=at,
            kind=row.kind,
            model_version=verdict.model_version,
            dataset_digest=verdict.dataset_digest,
            suite_version=verdict.suite_version,
            slice=row.slice,
            metric=row.metric,
            value=_num(row.value),
            lo=_num(row.lo),
            hi=_num(row.hi),
            threshold=_num(row.threshold),
            margin=_num(row.margin),
            passed=row.passed,
            gated=row.gated,
            actor=row.actor,
            note=row.note,
        )
        self._session.add(record)
        self._session.flush()
        return record.id

    def _bypassed(self, ids: list[int]) -> set[int]:
        if not ids:
            return set()
        stmt = select(EvidenceRow.verdict_id).where(
            EvidenceRow.verdict_id.in_(ids), EvidenceRow.kind == "bypass"
        )
        return set(self._session.scalars(stmt))

    def _record(self, row: GateVerdictRow, bypassed: bool) -> VerdictRecord:
        return VerdictRecord(
            row.id,
            row.run_id,
            utc(row.created_at),
            row.model_version,
            row.champion_version,
            row.dataset_digest,
            row.suite_version,
            row.passed,
            bypassed,
            row.summary,
            dict(row.details),
        )

    def verdict(self, verdict_id: int) -> VerdictRecord:
        row = self._session.get(GateVerdictRow, verdict_id)
        if row is None:
            raise NotFoundError(f"no gate verdict with id {verdict_id}")
        return self._record(row, bool(self._bypassed([row.id])))

    def verdicts(
        self, *, model_version: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[VerdictRecord], int]:
        """Verdicts, newest first, and how many there are in all."""
        stmt = select(GateVerdictRow)
        count = select(func.count()).select_from(GateVerdictRow)
        if model_version is not None:
            stmt = stmt.where(GateVerdictRow.model_version == model_version)
            count = count.where(GateVerdictRow.model_version == model_version)
        rows = list(
            self._session.scalars(
                stmt.order_by(GateVerdictRow.id.desc()).limit(limit).offset(offset)
            )
        )
        bypassed = self._bypassed([r.id for r in rows])
        total = int(self._session.scalar(count) or 0)
        return [self._record(r, r.id in bypassed) for r in rows], total

    def latest_verdict(self, model_version: str, champion_version: str) -> VerdictRecord | None:
        """The newest verdict on ``model_version`` against ``champion_version`` (None: the pair
        was never gated)."""
        stmt = (
            select(GateVerdictRow)
            .where(
                GateVerdictRow.model_version == model_version,
                GateVerdictRow.champion_version == champion_version,
            )
            .order_by(GateVerdictRow.id.desc())
            .limit(1)
        )
        row = self._session.scalars(stmt).first()
        return None if row is None else self._record(row, bool(self._bypassed([row.id])))

    def evidence(self, verdict_id: int) -> list[EvidenceRecord]:
        """The evidence rows of a verdict in the order written."""
        stmt = select(EvidenceRow).where(EvidenceRow.verdict_id == verdict_id)
        return [_evidence(r) for r in self._session.scalars(stmt.order_by(EvidenceRow.id))]
