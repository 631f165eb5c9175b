"""The gRPC client of ``longtail.v1.ModelUpdates``: the vehicle's assignment, a resumable download
into a partial file, and health reports.

``download`` appends to ``<staging>/<version>.part`` and fsyncs every chunk before asking for
more, so the file's size is always a prefix the server sent; a dropped stream, a stopped server
or a restarted vehicle resumes from that size. Every RPC failure is an
``UpdateUnavailableError`` (retry later, bytes kept); the caller backs off.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from agent.errors import PackageRefusedError, UpdateUnavailableError
from agent.updates.health import HealthSummary
from agent.updates.verify import check_version
from longtail.v1 import models_pb2, models_pb2_grpc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelOffer:
    """A package the backend assigns to this vehicle: ``digest`` SHA-256 hex of the archive,
    ``size`` bytes, ``signature`` Ed25519 over ``model_archive.signed_message(digest)`` (empty:
    unsigned), ``key_id`` the fingerprint of the key that signed it
    (``core.formats.model_archive.key_fingerprint``; empty: none)."""

    version: str
    digest: str
    size: int
    signature: bytes
    key_id: str


def _unavailable(rpc: str, exc: grpc.RpcError) -> UpdateUnavailableError:
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    return UpdateUnavailableError(f"{rpc}: {code.name}: {details}")


class ModelUpdatesClient:
    """Talks to the model-updates service over ``channel`` with the vehicle's bearer ``token``;
    ``timeout_s`` bounds each RPC, a download stream included (a cut-off download resumes)."""

    def __init__(self, channel: grpc.Channel, token: str, *, timeout_s: float = 60.0) -> None:
        self._stub = models_pb2_grpc.ModelUpdatesStub(channel)
        self._auth = (("authorization", f"Bearer {token}"),)
        self.timeout_s = timeout_s
        self.bytes_received = 0

    def assignment(self, current_version: str) -> ModelOffer | None:
        """The package this vehicle should run, or None when the backend assigns none.
        PackageRefusedError for a version that cannot name a package directory."""
        try:
            reply = self._stub.GetAssignment(
                models_pb2.GetAssignmentRequest(current_version=current_version),
                metadata=self._auth,
                timeout=self.timeout_s,
            )
        except grpc.RpcError as exc:
            raise _unavailable("GetAssignment", exc) from exc
        if not reply.assigned:
            return None
        return ModelOffer(
            version=check_version(reply.version),
            digest=reply.digest.lower(),
            size=reply.size,
            signature=bytes(reply.signature),
            key_id=reply.public_key_id,
        )

    def download(
        self, offer: ModelOffer, part: Path, should_stop: Callable[[], bool] = lambda: False
    ) -> bool:
        """Bring ``part`` up to ``offer.size`` bytes, resuming from its current size. True when
        complete, False when ``should_stop()`` cut it short; UpdateUnavailableError when the
        stream failed (the bytes received so far are kept)."""
        part.parent.mkdir(parents=True, exist_ok=True)
        held = part.stat().st_size if part.exists() else 0
        if held > offer.size:
            log.warning(
                "partial %s holds %d bytes of a %d-byte package; starting again",
                part,
                held,
                offer.size,
            )
            part.unlink()
            held = 0
        if held == offer.size:
            return True
        if held:
            log.info("resuming model %s at byte %d of %d", offer.version, held, offer.size)
        stream = self._stub.Download(
            models_pb2.DownloadRequest(version=offer.version, offset=held),
            metadata=self._auth,
            timeout=self.timeout_s,
        )
        try:
            with part.open("ab") as handle:
                for chunk in stream:
                    if chunk.offset != held or chunk.size != offer.size:
                        raise PackageRefusedError(
                            offer.version,
                            f"server sent bytes at offset {chunk.offset} of a {chunk.size}-byte "
                            f"archive, expected offset {held} of {offer.size}",
                        )
                    if held + len(chunk.data) > offer.size:
                        raise PackageRefusedError(
                            offer.version, f"server sent more than the {offer.size} bytes assigned"
                        )
                    handle.write(chunk.data)
                    handle.flush()
                    os.fsync(handle.fileno())  # the size on disk is what resume trusts
                    held += len(chunk.data)
                    self.bytes_received += len(chunk.data)
                    if should_stop():
                        stream.cancel()
                        return False
        except grpc.RpcError as exc:
            raise _unavailable(f"Download {offer.version} at byte {held}", exc) from exc
        finally:
            stream.cancel()  # a no-op once the stream ended; frees it when we left early
        if held != offer.size:
            raise UpdateUnavailableError(
                f"Download {offer.version}: stream ended at byte {held} of {offer.size}"
            )
        return True

    def report_health(
        self, summary: HealthSummary, refused: PackageRefusedError | None = None
    ) -> None:
        """Send one health report (and the last refusal, if any); UpdateUnavailableError when
        it was not acknowledged (the caller keeps the counts for the next report)."""
        message = models_pb2.HealthReport(
            version=summary.version,
            frames=summary.frames,
            triggers=summary.triggers,
            errors=summary.errors,
            latency_ms_p50=summary.latency_ms_p50,
            latency_ms_p99=summary.latency_ms_p99,
            score_mean=summary.score_mean,
            score_p95=summary.score_p95,
        )
        if refused is not None:
            message.refused_version = refused.version
            message.refused_reason = refused.reason[:1000]
        try:
            self._stub.ReportHealth(message, metadata=self._auth, timeout=self.timeout_s)
        except grpc.RpcError as exc:
            raise _unavailable(f"ReportHealth {summary.version}", exc) from exc
