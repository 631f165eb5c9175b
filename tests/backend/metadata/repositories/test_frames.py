"""Frames on SQLite and PostgreSQL: round trip, idempotent insert, filters, paging, blob keys."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from backend.metadata.records import FrameFilter
from backend.metadata.unit_of_work import Database
from tests.backend.metadata.records import frame


def add_vehicles(db: Database, *names: str) -> None:
    with db.transaction("t") as uow:
        for i, name in enumerate(names):
            uow.vehicles.add(name, f"{i:064x}")


def test_frame_round_trip_with_detections(db: Database) -> None:
    add_vehicles(db, "car-1")
    record = frame(1)
    with db.transaction("t") as uow:
        assert uow.frames.add(record) is True
    with db.transaction("t") as uow:
        assert uow.frames.get(record.id) == record
        assert uow.frames.payload_size(record.id) == 1001
        assert uow.frames.exists(record.id)
        assert uow.frames.get("0" * 64) is None
        assert uow.frames.get_many([record.id, "0" * 64]) == {record.id: record}


def test_adding_a_stored_frame_again_writes_nothing(db: Database) -> None:
    add_vehicles(db, "car-1")
    with db.transaction("t") as uow:
        assert uow.frames.add(frame(1)) is True
    with db.transaction("t") as uow:
        assert uow.frames.add(frame(1, priority=9.0)) is False
    with db.transaction("t") as uow:
        stored = uow.frames.get(frame(1).id)
        assert stored is not None and stored.priority == 0.5
        assert uow.frames.count() == 1


def test_a_frame_of_an_unknown_vehicle_is_refused_by_the_foreign_key(db: Database) -> None:
    with pytest.raises(IntegrityError), db.transaction("t") as uow:
        uow.frames.add(frame(1, vehicle="ghost"))
    with db.transaction("t") as uow:
        assert uow.frames.count() == 0


def test_list_filters_order_and_paging(db: Database) -> None:
    add_vehicles(db, "car-1", "car-2")
    with db.transaction("t") as uow:
        for n in range(10):
            vehicle, rules = ("car-1", ["r_odd"]) if n % 2 else ("car-2", [])
            uow.frames.add(frame(n, vehicle, priority=n / 10, rules=rules))
    with db.transaction("t") as uow:
        frames = uow.frames
        page, total = frames.list(FrameFilter(), limit=3, offset=0)
        assert total == 10 and [r.priority for r in page] == [0.9, 0.8, 0.7]
        page2, _ = frames.list(FrameFilter(), limit=3, offset=3)
        assert [r.priority for r in page2] == [0.6, 0.5, 0.4]
        by_vehicle, total = frames.list(FrameFilter(vehicle="car-1"))
        assert total == 5 and {r.vehicle for r in by_vehicle} == {"car-1"}
        assert frames.list(FrameFilter(min_priority=0.75))[1] == 2
        by_rule, total = frames.list(FrameFilter(rule="r_odd"), limit=2, offset=1)
        assert total == 5 and [r.priority for r in by_rule] == [0.7, 0.5]
        assert frames.list(FrameFilter(class_name="pedestrian"))[1] == 10
        assert frames.list(FrameFilter(class_name="cyclist"))[1] == 0
        first_ns = 1_700_000_000_000_000_000
        window = FrameFilter(captured_from_ns=first_ns + 2, captured_to_ns=first_ns + 5)
        assert frames.list(window)[1] == 3


def test_known_blob_keys_returns_the_referenced_subset(db: Database) -> None:
    add_vehicles(db, "car-1")
    with db.transaction("t") as uow:
        uow.frames.add(frame(1))
    with db.transaction("t") as uow:
        found = uow.frames.known_blob_keys([frame(1).blob_key, "frames/orphan"])
    assert found == {frame(1).blob_key}
