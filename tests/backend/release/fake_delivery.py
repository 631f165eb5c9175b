"""An in-memory ``UpdateSource`` (the registry and rollout stand-in) serving real archives
(``core.formats.model_archive.pack_package`` of real packages) signed as the registry signs, so
tests can serve tampered, unsigned and wrongly signed ones and simulate a registry outage."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from backend.errors import NotFoundError, StorageError
from backend.ingest.server import IngestServerHandle
from backend.release.types import Assignment, HealthReport
from backend.wiring import Backend, build_backend, local_config, start_ingest
from core.formats.model_archive import archive_digest, signed_message


def raw_public_key(key: Ed25519PrivateKey) -> bytes:
    """The 32 raw bytes of ``key``'s public half."""
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign(key: Ed25519PrivateKey, archive: bytes) -> bytes:
    """The registry's signature of ``archive`` (Ed25519 over its signed message)."""
    return key.sign(signed_message(archive_digest(archive)))


@dataclass
class Release:
    """One package version as the registry holds it."""

    version: str
    archive: bytes
    signature: bytes
    public_key: bytes

    def assignment(self) -> Assignment:
        return Assignment(
            version=self.version,
            digest=archive_digest(self.archive),
            size=len(self.archive),
            signature=self.signature,
            public_key=self.public_key,
        )


@dataclass
class FakeDelivery:
    """Assignments per vehicle, archives per version, every health report and download offset
    received; ``outage`` makes every call fail as a registry outage would."""

    releases: dict[str, Release] = field(default_factory=dict)
    assigned: dict[str, str] = field(default_factory=dict)
    reports: list[tuple[str, HealthReport]] = field(default_factory=list)
    served: dict[str, bytes] = field(default_factory=dict)  # version -> bytes served instead
    outage: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self,
        version: str,
        archive: bytes,
        key: Ed25519PrivateKey | None,
        *,
        signer: Ed25519PrivateKey | None = None,
    ) -> Release:
        """Register ``archive`` as ``version``, signed by ``signer`` (default ``key``) and
        announced with ``key``'s public key; ``key=None`` registers it unsigned."""
        signer = signer or key
        release = Release(
            version,
            archive,
            sign(signer, archive) if signer is not None else b"",
            raw_public_key(key) if key is not None else b"",
        )
        with self._lock:
            self.releases[version] = release
        return release

    def assign(self, vehicle: str, version: str) -> None:
        with self._lock:
            self.assigned[vehicle] = version

    def _check(self) -> None:
        if self.outage:
            raise StorageError("registry database is down", retryable=True)

    def assignment_for(self, vehicle_name: str) -> Assignment | None:
        self._check()
        with self._lock:
            version = self.assigned.get(vehicle_name)
            return None if version is None else self.releases[version].assignment()

    def open_archive(self, version: str) -> bytes:
        self._check()
        with self._lock:
            if version not in self.releases:
                raise NotFoundError(f"no package {version!r}")
            return self.served.get(version, self.releases[version].archive)

    def report_health(self, vehicle_name: str, report: HealthReport) -> None:
        self._check()
        with self._lock:
            self.reports.append((vehicle_name, report))


@dataclass
class DeliveryServer:
    """A real backend (SQLite, local blobs) serving Ingest and ModelUpdates over loopback, with
    vehicle ``car-1`` registered; ``restart`` stops it and starts it again on the same port."""

    backend: Backend
    delivery: FakeDelivery
    token: str
    handle: IngestServerHandle

    @classmethod
    def start(cls, root: Path) -> DeliveryServer:
        backend = build_backend(local_config(root))
        token = backend.add_vehicle("car-1")
        delivery = FakeDelivery()
        return cls(backend, delivery, token, start_ingest(backend, delivery=delivery))

    @property
    def target(self) -> str:
        return self.handle.target

    def restart(self) -> None:
        self.handle.stop(grace_s=0)
        self.handle = start_ingest(self.backend, port=self.handle.port, delivery=self.delivery)

    def close(self) -> None:
        self.handle.stop(grace_s=0.5)
        self.backend.close()
