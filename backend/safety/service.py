"""The safety stage over the metadata database: the case judged for a model version, snapshots
taken when a model is released, the SPI trend across versions, the SOTIF view, sign-offs and
the release report.

The case itself is loaded once by the wiring (``backend.safety.case.load_case``); everything else
reads the gate's evidence (``gate_verdicts``, ``evidence``) and the accepted labels, and writes
only ``safety_snapshots`` and ``safety_signoffs`` (with an audit event each).

A snapshot is taken by :meth:`SafetyService.record_release`, which the model registry calls in
the transaction of every promotion to champion (``ModelRegistry(on_promote=...)``): the API's and
the rollout's promotions and ``longtail release promote`` alike, so a model never becomes the
champion without the case it was released with. A version promoted again (a rollback to it)
keeps its first snapshot: snapshots are never updated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from sqlalchemy.exc import IntegrityError

from backend.annotation import store
from backend.auth.people import Principal
from backend.auth.roles import Permission
from backend.errors import ConflictError, InvalidInputError, NotFoundError
from backend.metadata.repositories.evidence import EvidenceRecord, VerdictRecord
from backend.metadata.repositories.safety import SignOffRecord, SnapshotRecord
from backend.metadata.unit_of_work import Database, UnitOfWork
from backend.release.registry import CHAMPION
from backend.safety.gsn import SafetyCase
from backend.safety.report import ReleaseView, render_report
from backend.safety.snapshot import SnapshotContent, diff
from backend.safety.sotif import ClassTally, sotif_view
from backend.safety.spi import Assessment, TrendPoint, assess, trend

log = logging.getLogger(__name__)

#: the longest sign-off comment (characters)
MAX_COMMENT: Final = 2000
#: verdicts read per query
PAGE: Final = 1000


class SafetyService:
    """The case, judged and recorded over one database; ``clock`` stamps sign-offs."""

    def __init__(self, db: Database, case: SafetyCase, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._case = case
        self._clock = clock

    @property
    def case(self) -> SafetyCase:
        return self._case

    # -- reading ------------------------------------------------------------------------------

    @staticmethod
    def _verdict_in(
        uow: UnitOfWork, version: str | None
    ) -> tuple[VerdictRecord | None, list[EvidenceRecord]]:
        """The newest verdict on ``version`` (on any version when None) and its rows."""
        found, _ = uow.evidence.verdicts(model_version=version, limit=1)
        if not found:
            return None, []
        return found[0], uow.evidence.evidence(found[0].id)

    @staticmethod
    def resolve_in(uow: UnitOfWork, version: str | None) -> str:
        """``version`` if registered (NotFoundError otherwise); the champion when None."""
        if version is None:
            champion = uow.models.alias(CHAMPION)
            if champion is None:
                raise NotFoundError("no model is the champion yet")
            return champion.version
        return uow.models.require(version).version

    def assess_in(self, uow: UnitOfWork, version: str) -> tuple[Assessment, list[EvidenceRecord]]:
        """The case judged on ``version``'s newest verdict, and that verdict's rows."""
        verdict, rows = self._verdict_in(uow, version)
        newest, _ = self._verdict_in(uow, None)
        current = None if newest is None else newest.suite_version
        return assess(self._case, version, verdict, rows, current), rows

    def assessment(self, version: str | None = None) -> Assessment:
        """The case judged for ``version`` (the champion when None)."""
        with self._db.transaction("judge the safety case") as uow:
            return self.assess_in(uow, self.resolve_in(uow, version))[0]

    def champion(self) -> str | None:
        """The champion's version (None before any)."""
        with self._db.transaction("read the champion") as uow:
            found = uow.models.alias(CHAMPION)
        return None if found is None else found.version

    # -- snapshots ----------------------------------------------------------------------------

    def record_release(
        self, uow: UnitOfWork, version: str, actor: str, at: datetime
    ) -> SnapshotRecord | None:
        """Store the case as it stands for ``version`` in the caller's (promotion's)
        transaction, with an audit event; None when the version has a snapshot already (kept
        as it is)."""
        if uow.safety.snapshot(version) is not None:
            log.info("model %s released again: its safety case snapshot is kept", version)
            return None
        assessment, _ = self.assess_in(uow, version)
        content = SnapshotContent.of(assessment)
        record = uow.safety.add_snapshot(
            model_version=version,
            at=at,
            by=actor,
            case_name=content.case_name,
            case_digest=content.case_digest,
            digest=content.digest(),
            top_status=content.top_status,
            verdict_id=content.verdict_id,
            content=content.to_json(),
        )
        uow.audit.record(
            at,
            actor,
            "safety.snapshot",
            details={
                "version": version,
                "snapshot": record.id,
                "digest": record.digest,
                "case_digest": record.case_digest,
                "top_status": record.top_status,
                "verdict": record.verdict_id,
            },
        )
        log.info(
            "safety case snapshot %d of model %s: %s (case %s)",
            record.id,
            version,
            record.top_status,
            record.case_digest[:12],
        )
        return record

    def snapshots(self, *, limit: int = 100, offset: int = 0) -> tuple[list[SnapshotRecord], int]:
        with self._db.transaction("list safety case snapshots") as uow:
            return uow.safety.snapshots(limit=limit, offset=offset)

    def snapshot(self, version: str) -> SnapshotRecord:
        """The snapshot of ``version`` (NotFoundError when it was never released)."""
        with self._db.transaction(f"read the safety snapshot of {version}") as uow:
            return uow.safety.require_snapshot(version)

    def diff(self, base: str, target: str) -> dict[str, Any]:
        """What changed between the snapshots of two released versions."""
        with self._db.transaction(f"diff the safety snapshots of {base} and {target}") as uow:
            a, b = uow.safety.require_snapshot(base), uow.safety.require_snapshot(target)
        return diff(SnapshotContent.from_json(a.content), SnapshotContent.from_json(b.content))

    # -- across versions ----------------------------------------------------------------------

    def trend(self, *, limit: int = 50) -> tuple[list[Assessment], dict[str, list[TrendPoint]]]:
        """The case judged for each of the newest ``limit`` gated versions (oldest first, each
        on its newest verdict) and every SPI's points across them."""
        with self._db.transaction("read the SPI trend") as uow:
            newest: dict[str, VerdictRecord] = {}
            offset = 0
            while True:
                page, _ = uow.evidence.verdicts(limit=PAGE, offset=offset)
                offset += len(page)
                for v in page:  # newest first: the first seen of a version is its newest
                    newest.setdefault(v.model_version, v)
                if len(page) < PAGE:
                    break
            chosen = sorted(newest.values(), key=lambda v: v.id)[-limit:]
            assessments = [self.assess_in(uow, v.model_version)[0] for v in chosen]
        return assessments, trend(assessments)

    def sotif(self, version: str | None = None) -> dict[str, Any]:
        """The SOTIF view of ``version`` (the champion when None): ``backend.safety.sotif``."""
        with self._db.transaction("build the SOTIF view") as uow:
            assessment, rows = self.assess_in(uow, self.resolve_in(uow, version))
            covered = self._suite_slices_in(uow, assessment.current_suite)
            tallies = accepted_tallies(uow)
        return sotif_view(assessment, rows, covered, tallies)

    @staticmethod
    def _suite_slices_in(uow: UnitOfWork, suite: str | None, verdicts: int = 50) -> set[str]:
        """The slices the suite ``suite`` holds: those of the evidence rows of its newest
        ``verdicts`` verdicts (a slice without frames yields no row; ``missing`` rows name a
        rule, not a slice)."""
        if suite is None:
            return set()
        slices: set[str] = set()
        seen, offset = 0, 0
        while seen < verdicts:
            page, _ = uow.evidence.verdicts(limit=PAGE, offset=offset)
            offset += len(page)
            for v in page:
                if v.suite_version == suite and seen < verdicts:
                    seen += 1
                    slices |= {r.slice for r in uow.evidence.evidence(v.id) if r.kind != "missing"}
            if len(page) < PAGE:
                break
        return slices

    # -- releases -----------------------------------------------------------------------------

    def _release_in(self, uow: UnitOfWork, version: str) -> ReleaseView:
        assessment, rows = self.assess_in(uow, version)
        snapshot = uow.safety.snapshot(version)
        digest = snapshot.digest if snapshot else SnapshotContent.of(assessment).digest()
        return ReleaseView(assessment, rows, snapshot, digest, uow.safety.signoffs(version))

    def release(self, version: str) -> ReleaseView:
        """Everything about the release of ``version`` (NotFoundError if not registered)."""
        with self._db.transaction(f"read the release of {version}") as uow:
            return self._release_in(uow, self.resolve_in(uow, version))

    def report(self, version: str) -> str:
        """The self-contained HTML report of ``version``'s release."""
        return render_report(self.release(version), self._clock())

    def sign_off(self, who: Principal, version: str, comment: str) -> SignOffRecord:
        """Record ``who``'s sign-off of ``version`` with ``comment`` (audited).

        PermissionDeniedError unless ``who`` may sign off releases (safety engineers);
        InvalidInputError for an empty or too long comment; NotFoundError for an unknown
        version; ConflictError when the version has no gate verdict, when its newest verdict
        failed and no admin bypassed it, or when ``who`` signed it already. The record keeps
        the digest of the case content signed: the version's snapshot when it was released,
        else the content as it stands now."""
        who.require(Permission.SIGN_OFF_RELEASE)
        comment = comment.strip()
        if not comment or len(comment) > MAX_COMMENT:
            raise InvalidInputError(
                f"a sign-off needs a comment of 1 to {MAX_COMMENT} characters, got {len(comment)}"
            )
        now = self._clock()
        try:
            with self._db.transaction(f"sign off model {version}") as uow:
                uow.models.require(version)
                view = self._release_in(uow, version)
                verdict = view.assessment.verdict
                if verdict is None:
                    raise ConflictError(
                        f"model {version} has no release-gate verdict: there is nothing to sign off"
                    )
                if not (verdict.passed or verdict.bypassed):
                    failed = ", ".join(verdict.details.get("failed_slices", [])) or "see evidence"
                    raise ConflictError(
                        f"model {version} failed the release gate (verdict {verdict.id}; failed "
                        f"slices: {failed}) and no admin bypassed it: it cannot be signed off"
                    )
                record = uow.safety.add_signoff(
                    model_version=version,
                    at=now,
                    by=who.name,
                    comment=comment,
                    verdict_id=verdict.id,
                    snapshot_id=None if view.snapshot is None else view.snapshot.id,
                    case_digest=self._case.digest,
                    snapshot_digest=view.content_digest,
                )
                uow.audit.record(
                    now,
                    who.name,
                    "safety.signoff",
                    details={
                        "version": version,
                        "verdict": verdict.id,
                        "snapshot": record.snapshot_id,
                        "snapshot_digest": record.snapshot_digest,
                        "top_status": view.assessment.top.value,
                    },
                    note=comment,
                )
        except IntegrityError:
            raise ConflictError(f"{who.name} signed off model {version} already") from None
        log.info("model %s signed off by %s (case %s)", version, who.name, view.content_digest[:12])
        return record


def accepted_tallies(uow: UnitOfWork, page_size: int = 500) -> dict[str, ClassTally]:
    """Accepted labelled objects per class over every accepted task that is neither gold nor
    calibration (each task's accepted label set, latest revision)."""
    objects: dict[str, int] = {}
    frames: dict[str, set[str]] = {}
    tasks: dict[str, set[int]] = {}
    vehicles: dict[str, set[str]] = {}
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    offset = 0
    while True:
        page, _ = uow.tasks.page(stage="accepted", gold=False, limit=page_size, offset=offset)
        offset += len(page)
        for task in page:
            if task.is_calibration or task.accepted_label_set_id is None:
                continue
            at = task.accepted_at or task.updated_at
            for box in store.content(uow, task.accepted_label_set_id).boxes:
                name = box.class_name
                objects[name] = objects.get(name, 0) + 1
                frames.setdefault(name, set()).add(box.frame_id)
                tasks.setdefault(name, set()).add(task.id)
                vehicles.setdefault(name, set()).add(task.vehicle)
                first[name] = min(first.get(name, at), at)
                last[name] = max(last.get(name, at), at)
        if len(page) < page_size:
            break
    return {
        name: ClassTally(
            name,
            count,
            len(frames[name]),
            len(tasks[name]),
            tuple(sorted(vehicles[name])),
            first.get(name),
            last.get(name),
        )
        for name, count in objects.items()
    }
