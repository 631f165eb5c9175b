"""The repository on SQLite and PostgreSQL: vehicles, frames, filters, paging, idempotency."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from backend.errors import StorageError
from backend.metadata.db import make_engine
from backend.metadata.records import DetectionRecord, FrameFilter, FrameRecord
from backend.metadata.repository import (
    MetadataRepository,
    UnknownVehicleError,
    VehicleExistsError,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def frame(
    n: int, vehicle: str = "car-1", *, priority: float = 0.5, rules: list[str] | None = None
) -> FrameRecord:
    return FrameRecord(
        id=f"{n:064x}",
        vehicle=vehicle,
        captured_at_ns=1_700_000_000_000_000_000 + n,
        received_at=T0,
        pose={"x": 1.0, "y": 2.0, "z": 0.0, "roll": 0.0, "pitch": 0.0, "yaw": 0.5},
        sensor_name="hdl64",
        sensor_beams=64,
        sensor_max_range_m=120.0,
        model_version="m1",
        frame_scores={"entropy": 0.9},
        rules_fired=rules if rules is not None else ["high_entropy"],
        priority=priority,
        blob_key=f"frames/{n:064x}",
        payload_size=1000 + n,
        num_points=100,
        encoding="ENCODING_LOSSLESS",
        quantization_step_m=0.0,
        detections=[
            DetectionRecord("car", 0.8, (1, 2, 3, 4, 2, 1.5, 0.1), 50, {"entropy": 0.2}),
            DetectionRecord("pedestrian", 0.4, (5, 6, 0, 0.8, 0.8, 1.8, -3.0), 12, {}),
        ],
    )


def test_vehicle_lifecycle(repo: MetadataRepository) -> None:
    created = repo.add_vehicle("car-1", "h" * 64, now=T0)
    assert created.created_at == T0 and not created.revoked
    with pytest.raises(VehicleExistsError, match="car-1"):
        repo.add_vehicle("car-1", "g" * 64)
    found = repo.vehicle_by_token_hash("h" * 64)
    assert found is not None and found[0].name == "car-1" and found[1] == "h" * 64
    assert repo.vehicle_by_token_hash("x" * 64) is None
    revoked = repo.revoke_vehicle("car-1", now=T0)
    assert revoked.revoked and revoked.revoked_at == T0
    assert repo.revoke_vehicle("car-1").revoked_at == T0  # idempotent: the first time is kept
    with pytest.raises(UnknownVehicleError, match="car-9"):
        repo.revoke_vehicle("car-9")
    assert [v.name for v in repo.list_vehicles()] == ["car-1"]


def test_frame_round_trip_with_detections(repo: MetadataRepository) -> None:
    repo.add_vehicle("car-1", "h" * 64)
    record = frame(1)
    assert repo.add_frame(record) is True
    assert repo.get_frame(record.id) == record
    assert repo.frame_payload_size(record.id) == 1001
    assert repo.frame_exists(record.id)
    assert repo.get_frame("0" * 64) is None


def test_adding_a_stored_frame_again_writes_nothing(repo: MetadataRepository) -> None:
    repo.add_vehicle("car-1", "h" * 64)
    assert repo.add_frame(frame(1)) is True
    assert repo.add_frame(frame(1, priority=9.0)) is False
    stored = repo.get_frame(frame(1).id)
    assert stored is not None and stored.priority == 0.5
    assert repo.count_frames() == 1


def test_a_frame_of_an_unknown_vehicle_is_refused_by_the_foreign_key(
    repo: MetadataRepository,
) -> None:
    with pytest.raises(IntegrityError):
        repo.add_frame(frame(1, vehicle="ghost"))
    assert repo.count_frames() == 0


def test_list_filters_order_and_paging(repo: MetadataRepository) -> None:
    repo.add_vehicle("car-1", "a" * 64)
    repo.add_vehicle("car-2", "b" * 64)
    for n in range(10):
        repo.add_frame(
            frame(
                n, "car-1" if n % 2 else "car-2", priority=n / 10, rules=["r_odd"] if n % 2 else []
            )
        )
    page, total = repo.list_frames(FrameFilter(), limit=3, offset=0)
    assert total == 10 and [r.priority for r in page] == [0.9, 0.8, 0.7]
    page2, _ = repo.list_frames(FrameFilter(), limit=3, offset=3)
    assert [r.priority for r in page2] == [0.6, 0.5, 0.4]
    by_vehicle, total = repo.list_frames(FrameFilter(vehicle="car-1"))
    assert total == 5 and {r.vehicle for r in by_vehicle} == {"car-1"}
    _, total = repo.list_frames(FrameFilter(min_priority=0.75))
    assert total == 2
    by_rule, total = repo.list_frames(FrameFilter(rule="r_odd"), limit=2, offset=1)
    assert total == 5 and [r.priority for r in by_rule] == [0.7, 0.5]
    _, total = repo.list_frames(FrameFilter(class_name="pedestrian"))
    assert total == 10
    _, total = repo.list_frames(FrameFilter(class_name="cyclist"))
    assert total == 0
    first_ns = 1_700_000_000_000_000_000
    _, total = repo.list_frames(
        FrameFilter(captured_from_ns=first_ns + 2, captured_to_ns=first_ns + 5)
    )
    assert total == 3


def test_known_blob_keys_returns_the_referenced_subset(repo: MetadataRepository) -> None:
    repo.add_vehicle("car-1", "a" * 64)
    repo.add_frame(frame(1))
    assert repo.known_blob_keys([frame(1).blob_key, "frames/orphan"]) == {frame(1).blob_key}


def test_an_unreachable_database_is_a_retryable_storage_error() -> None:
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/nope?connect_timeout=2")
    try:
        with pytest.raises(StorageError, match=r"127\.0\.0\.1:1") as info:
            MetadataRepository(engine).frame_exists("0" * 64)
        assert info.value.retryable
    finally:
        engine.dispose()
