"""The fleet simulator: vehicle processes upload every prepared frame exactly once."""

from __future__ import annotations

import hashlib
from pathlib import Path

from backend.metadata.records import FrameFilter
from backend.wiring import build_backend, local_config, start_ingest
from simulators.fleet import prepare_fleet, run_fleet


def test_two_vehicle_processes_store_every_frame_once(tmp_path: Path) -> None:
    vehicles = ["car-a", "car-b"]
    expected = prepare_fleet(tmp_path / "fleet", vehicles, frames_per_vehicle=2, num_points=500)
    assert len(expected) == 4
    backend = build_backend(local_config(tmp_path / "backend"))
    tokens = {v: backend.add_vehicle(v) for v in vehicles}
    server = start_ingest(backend)
    started: list[bool] = []
    try:
        results = run_fleet(
            server.target, tokens, tmp_path / "fleet", on_start=lambda: started.append(True)
        )
    finally:
        server.stop(grace_s=1.0)
    try:
        assert started == [True]
        assert sorted(r.frame_id for r in results) == sorted(expected)
        assert {r.status for r in results} == {"STATUS_STORED"}
        assert all(r.acked_at >= r.started_at and r.seconds_to_ack > 0 for r in results)
        rows, total = backend.repo.list_frames(FrameFilter())
        assert total == 4 and {r.id: r.vehicle for r in rows} == expected
        for row in rows:
            assert hashlib.sha256(backend.blobs.get(row.blob_key)).hexdigest() == row.id
    finally:
        backend.close()
