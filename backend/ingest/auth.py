"""Per-vehicle bearer tokens (``backend.auth.tokens``: random secrets stored as SHA-256) and the
gRPC authenticator that turns call metadata into a registered, unrevoked vehicle."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import grpc
from sqlalchemy.exc import IntegrityError

from backend.auth.tokens import hash_token, new_token, same_hash
from backend.errors import BackendError
from backend.ingest.errors import IngestRejected
from backend.metadata.records import VehicleRecord
from backend.metadata.repositories.vehicles import VehicleExistsError
from backend.metadata.unit_of_work import Database

log = logging.getLogger(__name__)

_VEHICLE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class InvalidVehicleNameError(BackendError):
    """A vehicle name that is empty, too long or has unsafe characters."""


def check_vehicle_name(name: str) -> str:
    """Return ``name`` if it is a valid vehicle name (1-64 of [A-Za-z0-9._-], alnum first)."""
    if not _VEHICLE_NAME_RE.match(name):
        raise InvalidVehicleNameError(
            f"vehicle name {name!r} is invalid: use 1-64 characters of [A-Za-z0-9._-], starting alphanumeric"
        )
    return name


def register_vehicle(db: Database, name: str) -> str:
    """Register ``name`` and return its token; the token is shown once and never stored."""
    token = new_token()
    name = check_vehicle_name(name)
    try:
        with db.transaction(f"add vehicle {name!r}") as uow:
            uow.vehicles.add(name, hash_token(token))
    except IntegrityError as exc:  # a concurrent registration of the same name
        raise VehicleExistsError(f"vehicle {name!r} or its token is already registered") from exc
    log.info("registered vehicle %s", name)
    return token


class TokenAuthenticator:
    """Turns the ``authorization`` call metadata into an authenticated vehicle name."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def authenticate(self, metadata: Iterable[tuple[str, str | bytes]]) -> VehicleRecord:
        """The vehicle a call belongs to; IngestRejected UNAUTHENTICATED or PERMISSION_DENIED."""
        header = None
        for key, value in metadata:
            if key.lower() == "authorization":
                header = value.decode("latin-1") if isinstance(value, bytes) else value
                break
        if header is None:
            raise IngestRejected(
                grpc.StatusCode.UNAUTHENTICATED, "missing 'authorization' metadata"
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise IngestRejected(
                grpc.StatusCode.UNAUTHENTICATED,
                f"'authorization' must be 'Bearer <token>', got scheme {scheme[:16]!r}",
            )
        presented = hash_token(token.strip())
        with self._db.transaction("look up a token") as uow:
            found = uow.vehicles.by_token_hash(presented)
        if found is None or not same_hash(found[1], presented):
            raise IngestRejected(grpc.StatusCode.UNAUTHENTICATED, "unknown vehicle token")
        vehicle = found[0]
        if vehicle.revoked:
            raise IngestRejected(
                grpc.StatusCode.PERMISSION_DENIED,
                f"token of vehicle {vehicle.name!r} was revoked at {vehicle.revoked_at}",
            )
        return vehicle
