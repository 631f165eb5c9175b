"""Snapshots of the released case, on SQLite and PostgreSQL: taken in the promotion's own
transaction (rollout, registry), never changed afterwards (a new verdict, a new case file, a
rollback to the version, a direct ORM update), and the diff between two releases."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.config import ReleaseConfig
from backend.errors import ConflictError
from backend.metadata.models.safety import SafetySnapshotRow
from backend.metadata.unit_of_work import UnitOfWork
from backend.release.health import HealthLimits
from backend.release.registry import ModelRegistry
from backend.release.services import build_release
from backend.release.signing import Signer
from backend.safety.case import parse_case
from backend.safety.service import SafetyService
from backend.safety.snapshot import SnapshotContent
from backend.storage.local import LocalBlobStore
from tests.backend.safety.conftest import CASE_YAML, GOOD, SafetyWorld, row, verdict_of

LIMITS = HealthLimits(
    max_error_rate=0.01, max_trigger_rate_ratio=3.0, max_latency_p99_ms=250.0, max_score_shift=0.5
)


def release_through_rollout(world: SafetyWorld, version: str) -> None:
    rollout = world.release.rollout
    campaign = rollout.start_campaign(
        version, canary_share=1.0, health_limits=LIMITS, min_canary_reports=1, actor="ops"
    )
    world.clock.advance(60)
    rollout.promote(campaign.id, actor="ops", note="canary healthy")


def test_a_promotion_stores_the_case_it_released(world: SafetyWorld) -> None:
    baseline = world.safety.snapshot(world.champion)  # seeding promoted the baseline
    assert baseline.top_status == "challenged" and baseline.verdict_id is None
    world.register("m-2")
    vid = world.gate(verdict_of("m-2", world.champion, GOOD))
    release_through_rollout(world, "m-2")
    snap = world.safety.snapshot("m-2")
    expected = world.safety.assessment("m-2")
    assert (snap.created_by, snap.created_at) == ("ops", world.clock())
    assert (snap.verdict_id, snap.top_status) == (vid, "undeveloped")
    assert snap.case_digest == world.safety.case.digest and snap.case_name == "test-case"
    content = SnapshotContent.from_json(snap.content)
    assert content.digest() == snap.digest and content.case_text == CASE_YAML
    assert content.evidence_ids == list(expected.evidence_ids) and len(content.evidence_ids) == 5
    assert content.statuses["Sn4"]["status"] == "supported"
    assert content.statuses["Sn4"]["evidence_ids"] == [expected.spis["Sn4"].evidence_id]
    assert [s["node"] for s in content.spis] == ["Sn2", "Sn3", "Sn4", "Sn5"]
    assert content.structure["root"] == "G1" and len(content.structure["nodes"]) == 12
    with world.db.transaction("read the audit log") as uow:
        events = [e for e in uow.audit.list(limit=1000) if e.action == "safety.snapshot"]
    assert [e.details["version"] for e in events] == [world.champion, "m-2"]
    assert events[-1].details["digest"] == snap.digest and events[-1].actor == "ops"
    page, total = world.safety.snapshots()
    assert total == 2 and [s.model_version for s in page] == ["m-2", world.champion]


def test_snapshots_are_never_changed(world: SafetyWorld, tmp_path: Path) -> None:
    world.register("m-2")
    world.gate(verdict_of("m-2", world.champion, GOOD))
    world.release.registry.promote("m-2", actor="cli")
    before = world.safety.snapshot("m-2")
    baseline_before = world.safety.snapshot(world.champion)

    # new evidence on the released version: the case now says otherwise, the snapshot does not
    world.gate(
        verdict_of("m-2", world.champion, [GOOD[0], GOOD[2], row("class:dog", "recall", 0.5, 0.3)])
    )
    assert world.safety.assessment("m-2").top.value == "violated"
    # a rollback promotes the baseline again: its first snapshot is kept
    world.release.registry.promote(world.champion, actor="ops")
    world.release.registry.promote("m-2", actor="ops")
    # a new case file, as after a restart with an edited case
    edited = CASE_YAML.replace("The model as a whole", "The model, all of it")
    other = SafetyService(world.db, parse_case(edited, "edited.yaml"), world.clock)
    registry = ModelRegistry(
        world.db,
        LocalBlobStore(tmp_path / "blobs"),
        Signer.generate(),
        world.clock,
        on_promote=(other.record_release,),
    )
    registry.promote(world.champion, actor="ops")
    assert world.safety.snapshot("m-2") == before
    assert world.safety.snapshot(world.champion) == baseline_before
    assert other.snapshot("m-2") == before

    with pytest.raises(ConflictError, match="immutable"), world.db.transaction("tamper") as uow:
        uow.session.get(SafetySnapshotRow, before.id).top_status = "supported"  # type: ignore[union-attr]
    with pytest.raises(ConflictError, match="immutable"), world.db.transaction("tamper") as uow:
        uow.session.delete(uow.session.get(SafetySnapshotRow, before.id))
    assert world.safety.snapshot("m-2") == before


def test_a_failing_hook_rolls_the_promotion_back(world: SafetyWorld, tmp_path: Path) -> None:
    world.register("m-2")

    def broken(uow: UnitOfWork, version: str, actor: str, at: object) -> None:
        world.safety.record_release(uow, version, actor, at)  # type: ignore[arg-type]
        raise RuntimeError("disk on fire")

    release = build_release(
        world.db,
        LocalBlobStore(tmp_path / "blobs"),
        ReleaseConfig(),
        world.clock,
        signer=Signer.generate(),
        on_promote=(broken,),
    )
    with pytest.raises(RuntimeError, match="disk on fire"):
        release.registry.promote("m-2", actor="ops")
    champion = world.release.registry.alias("champion")
    assert champion is not None and champion.version == world.champion
    assert world.safety.snapshots()[1] == 1  # only the baseline's


def test_the_diff_between_two_releases(world: SafetyWorld, tmp_path: Path) -> None:
    world.register("m-2")
    world.gate(
        verdict_of("m-2", world.champion, [GOOD[0], GOOD[2], row("class:dog", "recall", 0.5, 0.47)])
    )
    world.release.registry.promote("m-2", actor="ops")
    # the next release under an edited case: G5 argued now, G4 left open with a new text, Sn5 gone
    head, _, _ = CASE_YAML.partition("G4:\n")
    edited = head + (
        "G4:\n  text: Labels are agreed on by people\n  undeveloped: true\n"
        "G5:\n  text: Unknown objects are handled\n  supportedBy: [Sn6]\n"
        "Sn6:\n  text: The gate's verdict again\n  gate: verdict\n"
    )
    case = parse_case(edited, "edited.yaml")
    assert case.undeveloped == ["G4"] and "Sn5" not in case.nodes
    safety = SafetyService(world.db, case, world.clock)
    release = build_release(
        world.db,
        LocalBlobStore(tmp_path / "blobs"),
        ReleaseConfig(),
        world.clock,
        signer=Signer.generate(),
        on_promote=(safety.record_release,),
    )
    world.register("m-3")
    world.gate(verdict_of("m-3", "m-2", GOOD))
    release.registry.promote("m-3", actor="ops")

    d = safety.diff("m-2", "m-3")
    assert d["base"] == "m-2" and d["target"] == "m-3" and d["case_changed"]
    # m-2 was promoted directly despite its failed gate (the straddling dog recall)
    assert d["top_status"] == {"before": "violated", "after": "undeveloped"}
    assert d["nodes_added"] == [
        {"id": "Sn6", "kind": "solution", "text": "The gate's verdict again"}
    ]
    assert d["nodes_removed"] == [{"id": "Sn5", "kind": "solution", "text": "Label agreement"}]
    g4 = next(c for c in d["nodes_changed"] if c["id"] == "G4")
    assert g4["fields"] == ["text", "undeveloped"]
    assert g4["before"]["text"] == "Labels are agreed on"
    g5 = next(c for c in d["nodes_changed"] if c["id"] == "G5")
    assert g5["before"]["undeveloped"] is True and g5["after"]["undeveloped"] is False
    assert {"source": "G5", "target": "Sn6", "kind": "supportedBy"} in d["links_added"]
    assert {"source": "G4", "target": "Sn5", "kind": "supportedBy"} in d["links_removed"]
    changes = {c["id"]: (c["before"], c["after"]) for c in d["status_changes"]}
    assert changes["Sn4"] == ("challenged", "supported")
    assert changes["Sn1"] == ("violated", "supported")
    assert changes["G4"] == ("supported", "undeveloped")
    assert changes["G5"] == ("undeveloped", "supported")
    dog = next(c for c in d["spi_changes"] if c["id"] == "Sn4")
    assert "value" in dog["fields"] and "evidence_id" in dog["fields"]
    assert dog["before"]["value"] == pytest.approx(-0.03)
    assert dog["after"]["value"] == pytest.approx(0.1)
    assert dog["slice"] == "class:dog" and dog["metric"] == "recall"
    same = safety.diff("m-2", "m-2")
    assert not same["case_changed"] and same["status_changes"] == same["spi_changes"] == []
