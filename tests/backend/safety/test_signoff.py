"""Sign-off of a release by a safety engineer, on SQLite and PostgreSQL: who may, when the gate
forbids it, what is recorded (and audited), and the exported report that carries it."""

from __future__ import annotations

import html.parser

import pytest

from backend.auth.people import Principal
from backend.auth.roles import Role
from backend.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from backend.release.evidence import bypass_gate
from backend.safety.snapshot import SnapshotContent
from tests.backend.safety.conftest import AT, GOOD, SafetyWorld, row, verdict_of

ENGINEER = Principal("sam", Role.SAFETY_ENGINEER, "passed")


def test_only_a_safety_engineer_signs_off(world: SafetyWorld) -> None:
    world.register("m-2")
    world.gate(verdict_of("m-2", world.champion, GOOD))
    for role in (Role.ANNOTATOR, Role.REVIEWER, Role.SENIOR, Role.ADMIN):
        with pytest.raises(PermissionDeniedError, match="may not sign off release"):
            world.safety.sign_off(Principal("x", role, "passed"), "m-2", "looks fine")
    record = world.safety.sign_off(ENGINEER, "m-2", "  suite evidence reviewed  ")
    expected = SnapshotContent.of(world.safety.assessment("m-2")).digest()
    assert (record.signed_by, record.comment, record.signed_at) == (
        "sam",
        "suite evidence reviewed",
        world.clock(),
    )
    assert record.snapshot_id is None and record.snapshot_digest == expected
    assert record.case_digest == world.safety.case.digest
    with world.db.transaction("read the audit log") as uow:
        (event,) = [e for e in uow.audit.list(limit=1000) if e.action == "safety.signoff"]
    assert event.actor == "sam" and event.note == "suite evidence reviewed"
    assert event.details["snapshot_digest"] == expected and event.details["version"] == "m-2"
    with pytest.raises(ConflictError, match="sam signed off model m-2 already"):
        world.safety.sign_off(ENGINEER, "m-2", "again")

    # released: a second engineer's sign-off names the release's snapshot
    world.release.registry.promote("m-2", actor="ops")
    snapshot = world.safety.snapshot("m-2")
    second = world.safety.sign_off(Principal("kim", Role.SAFETY_ENGINEER, "p"), "m-2", "ok")
    assert second.snapshot_id == snapshot.id and second.snapshot_digest == snapshot.digest
    assert [s.signed_by for s in world.safety.release("m-2").signoffs] == ["sam", "kim"]


def test_a_failed_gate_cannot_be_signed_off_unless_bypassed(world: SafetyWorld) -> None:
    world.register("m-2")
    vid = world.gate(
        verdict_of("m-2", world.champion, [GOOD[0], GOOD[2], row("class:dog", "recall", 0.5, 0.3)])
    )
    with pytest.raises(
        ConflictError, match=r"failed the release gate \(verdict \d+; failed slices: class:dog\)"
    ):
        world.safety.sign_off(ENGINEER, "m-2", "ship it")
    assert world.safety.release("m-2").signoffs == []
    bypass_gate(world.db, Principal("root", Role.ADMIN, "passed"), vid, "field fix", AT)
    assert world.safety.sign_off(ENGINEER, "m-2", "accepted with the bypass").verdict_id == vid
    with pytest.raises(ConflictError, match="no release-gate verdict"):
        world.safety.sign_off(ENGINEER, world.champion, "baseline")
    with pytest.raises(NotFoundError, match="m-9"):
        world.safety.sign_off(ENGINEER, "m-9", "nothing")
    with pytest.raises(InvalidInputError, match="comment of 1 to 2000 characters, got 0"):
        world.safety.sign_off(ENGINEER, "m-2", "   ")


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs


def test_the_report_holds_the_numbers_and_needs_nothing_else(world: SafetyWorld) -> None:
    world.register("m-2")
    vid = world.gate(
        verdict_of("m-2", world.champion, [GOOD[0], GOOD[2], row("class:dog", "recall", 0.5, 0.47)])
    )
    bypass_gate(world.db, Principal("root", Role.ADMIN, "passed"), vid, "field fix", AT)
    world.release.registry.promote("m-2", actor="ops")
    world.safety.sign_off(ENGINEER, "m-2", "dog recall <uncertain> & accepted")
    view = world.safety.release("m-2")
    report = world.safety.report("m-2")

    assert view.snapshot is not None and view.content_digest == view.snapshot.digest
    for text in (
        "model m-2",
        world.safety.case.digest,
        view.snapshot.digest,
        "d" * 64,  # the training data's digest
        "FAILED, bypassed by an admin",
        "Dogs are found no worse than before",
        "uncertain: the interval straddles the threshold, -0.03 [-0.07, 0.01] vs &gt;= -0.05",
        "<td class=n>-0.0300</td><td class=n>[-0.0700, 0.0100]</td>",  # the dog SPI
        "<td class=n>&gt;= -0.05</td><td class=n>-0.0500</td>",  # own and gate threshold
        "<td class=n>0.7000</td><td class=n>[0.6600, 0.7400]</td>",  # the recall floor
        "candidate - champion",
        "dog recall &lt;uncertain&gt; &amp; accepted",  # the comment, escaped
        ">sam<",
        "G5</b> <span class=kind>goal</span> Unknown objects are handled",
    ):
        assert text in report, text
    failed = next(r for r in view.rows if r.slice == "class:dog")
    assert f'<tr class="fail"><td>{failed.id}</td><td><code>class:dog</code>' in report
    tags = _Tags()
    tags.feed(report)
    assert {"script", "link", "img", "iframe", "object"}.isdisjoint(tags.tags)
    assert not [a for a in tags.attrs if a[0] in ("src", "href")]
    assert "http" not in report and "url(" not in report
