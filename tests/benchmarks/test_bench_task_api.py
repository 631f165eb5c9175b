"""The task API benchmark: its database check catches a lost save, a double lease and a torn
in-flight save (so its zeros mean something), and a small run records what the README reads."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from backend.config import load_config
from backend.metadata.db import make_engine
from backend.metadata.migrate import upgrade
from backend.wiring import build_backend
from benchmarks import bench_task_api
from benchmarks.task_api_load import ClientLog, Save, label_digest, labels_for, prepare, verify


def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def test_verify_finds_lost_double_leased_and_torn_saves(tmp_path: Path) -> None:
    work = prepare(tmp_path / "w", sqlite_url(tmp_path), frames=2, annotators=2)
    backend = build_backend(load_config(work.config))
    try:
        who = backend.people.authenticate(work.tokens["ann-000"])
        lease = backend.annotation.queue.next(who, "annotate")
        document = backend.annotation.editor.view(who, lease.assignment.id).ontology
        labels = labels_for(lease.task.key_frame_id, "ann-000", 0, document)
        version = backend.annotation.editor.save(who, lease.assignment.id, 0, labels, draft=True)
        assert lease.label_set_id is not None
    finally:
        backend.close()
    stored = Save(
        "ann-000",
        lease.assignment.id,
        lease.task.id,
        0,
        label_digest(labels),
        status=200,
        label_set_id=lease.label_set_id,
        version=version,
    )
    good = ClientLog("ann-000", leases={lease.assignment.id: lease.task.id}, saves=[stored])
    verdict = verify(work.metadata_url, [good])
    assert verdict.ok and verdict.acknowledged == 1

    other = label_digest(labels_for(lease.task.key_frame_id, "ann-000", 7, document))
    never_stored = replace(stored, base_version=1, version=2, digest=other)
    wrong_content = replace(stored, digest=other)
    in_flight_absent = replace(stored, base_version=1, status=None, version=None)
    in_flight_torn = replace(stored, status=None, version=None, digest=other)  # v1 is not it
    bad = ClientLog(
        "ann-000",
        leases=good.leases,
        saves=[stored, never_stored, wrong_content, in_flight_absent, in_flight_torn],
    )
    thief = ClientLog("ann-001", leases={lease.assignment.id + 1: lease.task.id})
    verdict = verify(work.metadata_url, [bad, thief])
    assert not verdict.ok
    assert len(verdict.lost) == 2 and "v2 missing" in verdict.lost[0]
    assert "other content" in verdict.lost[1]
    assert len(verdict.double_leased) == 1 and "ann-001" in verdict.double_leased[0]
    assert len(verdict.torn) == 1 and verdict.in_flight_absent == 1


@pytest.mark.slow
def test_a_small_run_records_the_cases_the_readme_reads(tmp_path: Path) -> None:
    out = tmp_path / "task_api.json"
    argv = ["--clients", "1", "3", "--cycles", "6", "--metadata", "sqlite"]
    assert bench_task_api.main([*argv, "--baseline-requests", "10", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["all_ok"] and result["machine"]["cpu_count"] >= 1
    one, three = result["by_case"]["sqlite-1"], result["by_case"]["sqlite-3"]
    assert one["cycles"] == 6 and three["cycles"] == 6 and three["clients"] == 3
    for case in (one, three):
        assert case["lost_saves"] == 0 and case["double_leased_tasks"] == 0
        assert case["acknowledged_saves"] == case["cycles"]
        assert 0 < case["cycle_p50_ms"] <= case["cycle_p99_ms"]
        assert case["requests"] == 3 * case["cycles"] and case["cycles_per_s"] > 0
        assert case["baseline_health"]["requests"] == 10
    assert result["provenance"]["entries"] == ["benchmarks.bench_task_api", "backend.cli"]
