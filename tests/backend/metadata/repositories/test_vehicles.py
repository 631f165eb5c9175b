"""Vehicles on SQLite and PostgreSQL: register, look up by token hash, revoke, list."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from backend.metadata.repositories.vehicles import UnknownVehicleError, VehicleExistsError
from backend.metadata.unit_of_work import Database
from tests.backend.metadata.records import T0


def test_vehicle_lifecycle(db: Database) -> None:
    with db.transaction("t") as uow:
        created = uow.vehicles.add("car-1", "h" * 64, now=T0)
    assert created.created_at == T0 and not created.revoked
    with pytest.raises(VehicleExistsError, match="car-1"), db.transaction("t") as uow:
        uow.vehicles.add("car-1", "g" * 64)
    with db.transaction("t") as uow:
        found = uow.vehicles.by_token_hash("h" * 64)
        assert found is not None and found[0].name == "car-1" and found[1] == "h" * 64
        assert uow.vehicles.by_token_hash("x" * 64) is None
        revoked = uow.vehicles.revoke("car-1", now=T0)
    assert revoked.revoked and revoked.revoked_at == T0
    with db.transaction("t") as uow:
        assert uow.vehicles.revoke("car-1").revoked_at == T0  # idempotent: the first is kept
        with pytest.raises(UnknownVehicleError, match="car-9"):
            uow.vehicles.revoke("car-9")
    with db.transaction("t") as uow:
        assert [v.name for v in uow.vehicles.list()] == ["car-1"]


def test_a_token_hash_is_unique(db: Database) -> None:
    with db.transaction("t") as uow:
        uow.vehicles.add("car-1", "h" * 64)
    with pytest.raises(IntegrityError), db.transaction("t") as uow:
        uow.vehicles.add("car-2", "h" * 64)
    with db.transaction("t") as uow:
        assert [v.name for v in uow.vehicles.list()] == ["car-1"]
