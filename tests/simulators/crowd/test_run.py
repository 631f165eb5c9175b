"""The simulated crowd against the real server over HTTP, concurrently: gold catches the
spammer within its calibration tasks and passes the careful; Dawid-Skene beats majority vote on
overlap tasks; the agreement the server measures falls as the injected noise rises."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from simulators.crowd import Profile, default_crowd, run_crowd, truth_from_drive
from simulators.crowd.client import ApiClient
from simulators.crowd.consensus_check import consensus_accuracy
from tests.simulators.crowd.server import live_server

#: calibration gold tasks every new annotator labels first (the server's default)
CALIBRATION = 3


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_gold_flags_the_spammer_within_its_calibration_and_passes_the_careful(
    drive: Path, tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if database == "postgresql" else None
    with live_server(
        tmp_path,
        drive,
        url,
        frames=6,
        default_tier=2,
        gold_share=0.5,
        calibration_tasks=CALIBRATION,
    ) as server:
        run = run_crowd(
            server.url,
            server.admin_token,
            truth_from_drive(drive),
            seed=7,
            gold_share=0.84,  # 5 of the 6 frames: 3 calibration tasks and 2 ordinary gold
            calibration_frames=CALIBRATION,
        )
    people = {p["name"]: p for p in run.qa["people"]}
    spammer = run.person("ann-spammer")
    assert spammer.flagged and people["ann-spammer"]["calibration"] == "flagged"
    assert spammer.tasks <= CALIBRATION and people["ann-spammer"]["gold_accuracy"] < 0.2
    careful = [p.name for p in default_crowd() if p.role == "annotator"][:5]
    for name in careful:
        assert people[name]["calibration"] == "passed", people[name]
        assert people[name]["gold_accuracy"] > 0.7, people[name]
    assert run.pending_tasks == 0
    assert run.qa["stages"].get("accepted") == 6  # every real task, none from the spammer
    # reviewers decided (approve, fix-and-accept or reject: which one depends on the draws)
    reviews = [p.decisions for p in run.people if p.role == "reviewer"]
    assert sum(sum(d.values()) for d in reviews) > 0, reviews
    assert any(p["reviewer_gold_checks"] > 0 for p in run.qa["people"]), run.qa["people"]


def junior(name: str) -> Profile:
    """A careful hand that mistakes cars for trucks and pedestrians for cyclists."""
    confusions = {"car": {"truck": 0.35}, "pedestrian": {"cyclist": 0.35}}
    return Profile(name, class_confusion=MappingProxyType(confusions), miss_rate=0.0)


def test_dawid_skene_beats_majority_vote_on_overlap_tasks(drive: Path, tmp_path: Path) -> None:
    crowd = [
        Profile("ann-expert", miss_rate=0.0, confusion=0.0),
        junior("ann-j1"),
        junior("ann-j2"),
    ]
    truth = truth_from_drive(drive)
    with live_server(
        tmp_path, drive, default_tier=3, overlap=3, min_agreement=0.0, calibration_tasks=CALIBRATION
    ) as server:
        run = run_crowd(
            server.url,
            server.admin_token,
            truth,
            crowd,
            seed=11,
            gold_share=0.0,
            calibration_frames=CALIBRATION,
        )
        with ApiClient(server.url, server.admin_token) as admin:
            scored = consensus_accuracy(admin, truth)
    assert run.pending_tasks == 0
    assert scored.tasks == 8 and scored.objects > 100
    assert scored.dawid_skene > scored.majority + 0.03, scored
    assert scored.dawid_skene > 0.95, scored


def test_measured_agreement_falls_as_the_injected_noise_rises(drive: Path, tmp_path: Path) -> None:
    base = [replace(p, confusion=0.1) for p in default_crowd()[:3]]
    measured = []
    for level in (0.5, 2.0, 5.0):
        with live_server(
            tmp_path / str(level),
            drive,
            frames=5,
            default_tier=3,
            overlap=3,
            min_agreement=0.0,
            calibration_tasks=0,
        ) as server:
            run = run_crowd(
                server.url,
                server.admin_token,
                truth_from_drive(drive),
                [p.noisier(level) for p in base],
                seed=5,
                gold_share=0.0,
                calibration_frames=0,
            )
        batch = run.qa["batch"]
        measured.append((batch["fleiss_kappa"], batch["krippendorff_alpha_class"]))
    fleiss = [m[0] for m in measured]
    alpha = [m[1] for m in measured]
    assert fleiss[0] > fleiss[1] > fleiss[2], measured
    assert alpha[0] > alpha[1] > alpha[2], measured
