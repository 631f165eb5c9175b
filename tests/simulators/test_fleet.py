"""The fleet simulator: vehicle processes deliver every prepared frame exactly once, through the
agent's own uploader, against the real ingest server on loopback."""

from __future__ import annotations

import hashlib
from pathlib import Path

from agent.spool.record import decode_record
from backend.wiring import build_backend, local_config, start_ingest
from simulators.fleet import RECORD_SUFFIX, prepare_fleet, run_fleet, upload_vehicle
from tests.backend.metadata.queries import all_frames
from tests.fixtures.services import free_port


def test_prepared_frames_are_valid_spool_records(tmp_path: Path) -> None:
    expected = prepare_fleet(tmp_path, ["car-a"], frames_per_vehicle=2, num_points=300, seed=9)
    paths = sorted((tmp_path / "car-a").glob(f"*{RECORD_SUFFIX}"))
    records = [decode_record(p.read_bytes(), str(p)) for p in paths]
    assert [r.frame_id for r in records] == list(expected)
    assert {r.metadata.vehicle_id for r in records} == {"car-a"}
    assert all(r.metadata.payload_size == len(r.payload) for r in records)


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
        # the same frames again, in-process: the uploader asks first and sends nothing
        again = upload_vehicle(tmp_path / "fleet" / "car-a", server.target, tokens["car-a"])
    finally:
        server.stop(grace_s=1.0)
    try:
        assert started == [True]
        assert sorted(r.frame_id for r in results) == sorted(expected)
        assert {(r.status, r.attempts, r.error) for r in results} == {("stored", 1, "")}
        assert all(r.acked_at >= r.started_at and r.seconds_to_ack > 0 for r in results)
        assert {r.status for r in again} == {"already_stored"} and len(again) == 2
        rows = all_frames(backend.db)
        assert len(rows) == 4 and {r.id: r.vehicle for r in rows} == expected
        for row in rows:
            assert hashlib.sha256(backend.blobs.get(row.blob_key)).hexdigest() == row.id
    finally:
        backend.close()


def test_unreachable_backend_is_retried_then_reported_per_frame(tmp_path: Path) -> None:
    expected = prepare_fleet(tmp_path, ["car-a"], frames_per_vehicle=1, num_points=200)
    target = f"127.0.0.1:{free_port()}"  # nothing listens there
    (result,) = upload_vehicle(tmp_path / "car-a", target, "token", attempts=2)
    assert result.frame_id in expected
    assert (result.status, result.attempts) == ("failed_transient", 2)
    assert result.frame_id in result.error and "UNAVAILABLE" in result.error
