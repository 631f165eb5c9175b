"""What the vehicle-facing model update service exchanges with the release stage.

The gRPC ``ModelUpdates`` service (beside the ingest server) calls an :class:`UpdateSource`;
:class:`backend.release.rollout.RolloutService` is the one the backend wires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Assignment:
    """The model a vehicle should run: its version, archive digest (SHA-256 hex) and size in
    bytes, the Ed25519 signature of the digest (``core.formats.model_archive.signed_message``)
    and the raw 32-byte public key that made it. A vehicle verifies the signature with the key
    it was configured with, never with ``public_key`` alone (which only names the signer)."""

    version: str
    digest: str
    size: int
    signature: bytes
    public_key: bytes


@dataclass(frozen=True)
class HealthReport:
    """A vehicle's health figures for the model ``version`` over one reporting interval: frames
    processed, trigger firings and errors counted in that interval, per-frame latency p50/p99 in
    milliseconds, and the mean and p95 of the frame score (the selection's priority score).
    ``refused_version``: a package the vehicle refused since its previous report (None: none),
    with the vehicle's reason."""

    version: str
    frames: int
    triggers: int
    errors: int
    latency_ms_p50: float
    latency_ms_p99: float
    score_mean: float
    score_p95: float
    refused_version: str | None = None
    refused_reason: str = ""


class UpdateSource(Protocol):
    """What the model update service needs from the release stage."""

    def assignment_for(self, vehicle_name: str) -> Assignment | None:
        """The model ``vehicle_name`` should run; None while no model is released."""
        ...

    def open_archive(self, version: str) -> bytes:
        """The signed archive of ``version`` (its digest checked)."""
        ...

    def report_health(self, vehicle_name: str, report: HealthReport) -> None:
        """Store one health report of ``vehicle_name`` (and the refusal it carries)."""
        ...
