"""Evidence records: a gate verdict and every number behind it, stored in one transaction.

Each check of a ``GateVerdict`` becomes an evidence row (model version, dataset digest, suite
version, slice, metric, value, interval lo/hi, threshold, margin, pass/fail, run id, time), plus
one row of kind ``verdict``; the verdict row itself goes to ``gate_verdicts``. Either all of it
is stored or none (``Database.transaction``).

A failed verdict can be bypassed only by a person whose role holds ``Permission.BYPASS_GATE``
(admins); the bypass is an evidence row of its own (kind ``bypass``: who and why), never an
edit of the verdict. ``release_allowed`` is what a release step asks.
"""

from __future__ import annotations

import logging
from datetime import datetime

from backend.auth.people import Principal
from backend.auth.roles import Permission
from backend.errors import ConflictError, InvalidInputError
from backend.metadata.repositories.evidence import EvidenceRecord, NewEvidence
from backend.metadata.unit_of_work import Database
from backend.release.gate import GateVerdict

log = logging.getLogger(__name__)

#: the longest reason a bypass may give (characters)
MAX_REASON = 2000


def evidence_rows(verdict: GateVerdict) -> list[NewEvidence]:
    """The rows of a verdict: one per check, then one for the verdict itself."""
    rows = [
        NewEvidence(
            kind=c.kind,
            slice=c.slice,
            metric=c.metric,
            value=c.value,
            lo=c.lo,
            hi=c.hi,
            threshold=c.threshold,
            margin=c.margin,
            passed=c.passed,
            gated=c.gated,
        )
        for c in verdict.checks
    ]
    rows.append(
        NewEvidence(
            kind="verdict",
            slice="",
            metric="gate",
            value=float(len(verdict.failures)),
            passed=verdict.passed,
            note=verdict.summary(),
        )
    )
    return rows


def record_verdict(
    db: Database, verdict: GateVerdict, *, run_id: str, at: datetime, details: dict[str, object]
) -> int:
    """Store ``verdict`` and its evidence rows in one transaction; the verdict's id.
    ``details`` (JSON) keeps context such as the comparison's settings; the failed slices and
    the comparison's figures (each model's own value and interval per slice and metric, which
    the checks hold only as the paired difference) are added here."""
    with db.transaction(f"record gate verdict of run {run_id}") as uow:
        verdict_id = uow.evidence.add_verdict(
            run_id=run_id,
            at=at,
            model_version=verdict.candidate_version,
            champion_version=verdict.champion_version,
            dataset_digest=verdict.dataset_digest,
            suite_version=verdict.suite_version,
            passed=verdict.passed,
            summary=verdict.summary(),
            details={
                **details,
                "failed_slices": verdict.failed_slices,
                "figures": [row.to_json() for row in verdict.figures],
            },
            rows=evidence_rows(verdict),
        )
    log.info("gate verdict %d (run %s): %s", verdict_id, run_id, verdict.summary().splitlines()[0])
    return verdict_id


def bypass_gate(
    db: Database, who: Principal, verdict_id: int, reason: str, at: datetime
) -> EvidenceRecord:
    """Release a failed verdict anyway: admins only, with a reason; recorded as evidence.

    PermissionDeniedError for any other role; NotFoundError for an unknown verdict;
    ConflictError for a verdict that passed or was bypassed already; InvalidInputError for an
    empty reason."""
    who.require(Permission.BYPASS_GATE)
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise InvalidInputError(
            f"a gate bypass needs a reason of 1 to {MAX_REASON} characters, got {len(reason)}"
        )
    with db.transaction(f"bypass gate verdict {verdict_id}") as uow:
        verdict = uow.evidence.verdict(verdict_id)
        if verdict.passed:
            raise ConflictError(f"gate verdict {verdict_id} passed; there is nothing to bypass")
        if verdict.bypassed:
            raise ConflictError(f"gate verdict {verdict_id} was bypassed already")
        row_id = uow.evidence.add_evidence(
            verdict_id,
            NewEvidence(
                kind="bypass", slice="", metric="gate", passed=True, actor=who.name, note=reason
            ),
            at,
        )
        record = next(r for r in uow.evidence.evidence(verdict_id) if r.id == row_id)
    log.warning("gate verdict %d bypassed by %s: %s", verdict_id, who.name, reason)
    return record


def release_allowed(db: Database, verdict_id: int) -> bool:
    """Whether the verdict lets its candidate be released: it passed, or an admin bypassed it."""
    with db.transaction(f"read gate verdict {verdict_id}") as uow:
        verdict = uow.evidence.verdict(verdict_id)
    return verdict.passed or verdict.bypassed
