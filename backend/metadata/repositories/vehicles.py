"""Vehicles allowed to upload, by name; only the SHA-256 of a token is ever stored."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import ConflictError, NotFoundError
from backend.metadata.models import Vehicle
from backend.metadata.records import VehicleRecord, utc


class VehicleExistsError(ConflictError):
    """A vehicle with that name is already registered."""


class UnknownVehicleError(NotFoundError):
    """No vehicle with that name is registered."""


def _record(row: Vehicle) -> VehicleRecord:
    return VehicleRecord(
        name=row.name,
        created_at=utc(row.created_at),
        revoked_at=None if row.revoked_at is None else utc(row.revoked_at),
    )


class VehicleRepository:
    """Vehicles in one unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, name: str, token_hash: str, now: datetime | None = None) -> VehicleRecord:
        """Register ``name`` with the hash of its token; VehicleExistsError if the name is taken
        (a race on the name or the token surfaces as IntegrityError at commit)."""
        if self._session.get(Vehicle, name) is not None:
            raise VehicleExistsError(f"vehicle {name!r} is already registered")
        row = Vehicle(name=name, token_hash=token_hash, created_at=now or datetime.now(UTC))
        self._session.add(row)
        return _record(row)

    def revoke(self, name: str, now: datetime | None = None) -> VehicleRecord:
        """Revoke the vehicle's token (idempotent); UnknownVehicleError if there is none."""
        row = self._session.get(Vehicle, name)
        if row is None:
            raise UnknownVehicleError(f"no vehicle named {name!r} is registered")
        if row.revoked_at is None:
            row.revoked_at = now or datetime.now(UTC)
        return _record(row)

    def get(self, name: str) -> VehicleRecord | None:
        """The vehicle ``name``, or None when none is registered."""
        row = self._session.get(Vehicle, name)
        return None if row is None else _record(row)

    def list(self) -> list[VehicleRecord]:
        """Every registered vehicle, by name."""
        rows = self._session.scalars(select(Vehicle).order_by(Vehicle.name)).all()
        return [_record(r) for r in rows]

    def by_token_hash(self, token_hash: str) -> tuple[VehicleRecord, str] | None:
        """The vehicle whose token hashes to ``token_hash`` with its stored hash, or None."""
        row = self._session.scalars(select(Vehicle).where(Vehicle.token_hash == token_hash)).first()
        return None if row is None else (_record(row), row.token_hash)
