"""Per-vehicle bearer tokens: random 32-byte secrets, stored only as their SHA-256.

A token is looked up by its hash (an index hit), then the stored hash is compared with
:func:`hmac.compare_digest` so the comparison takes the same time whatever the input. Hashing
a 256-bit random secret needs no salt or slow KDF: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Iterable

import grpc

from backend.errors import BackendError
from backend.ingest.errors import IngestRejected
from backend.metadata.records import VehicleRecord
from backend.metadata.repository import MetadataRepository

log = logging.getLogger(__name__)

TOKEN_BYTES = 32
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


def new_token() -> str:
    """A fresh random bearer token (URL-safe text, 256 bits of entropy)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token: what the database stores."""
    return hashlib.sha256(token.encode()).hexdigest()


def register_vehicle(repo: MetadataRepository, name: str) -> str:
    """Register ``name`` and return its token; the token is shown once and never stored."""
    token = new_token()
    repo.add_vehicle(check_vehicle_name(name), hash_token(token))
    log.info("registered vehicle %s", name)
    return token


class TokenAuthenticator:
    """Turns the ``authorization`` call metadata into an authenticated vehicle name."""

    def __init__(self, repo: MetadataRepository) -> None:
        self._repo = repo

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
        found = self._repo.vehicle_by_token_hash(presented)
        if found is None or not hmac.compare_digest(found[1], presented):
            raise IngestRejected(grpc.StatusCode.UNAUTHENTICATED, "unknown vehicle token")
        vehicle = found[0]
        if vehicle.revoked:
            raise IngestRejected(
                grpc.StatusCode.PERMISSION_DENIED,
                f"token of vehicle {vehicle.name!r} was revoked at {vehicle.revoked_at}",
            )
        return vehicle
