"""The ``longtail.v1.ModelUpdates`` servicer: assignments, resumable package downloads and health
reports of the vehicles, served on the ingest gRPC server with the same vehicle tokens.

What a vehicle should run, the archives and what to do with a health report belong to the
registry and the rollout; this module reaches them through the small
:class:`backend.release.types.UpdateSource` protocol (``RolloutService`` in production), so it
holds no policy. A download sends the archive from the vehicle's byte offset in
chunks of ``chunk_bytes``; the vehicle resumes a dropped stream by asking again from the bytes it
holds. Only the version assigned to the calling vehicle can be downloaded.

A health report may carry a package the vehicle refused (tampered, unsigned, another key, would
not load); the rollout stores it, and a canary's refusals roll its campaign back.

Every refusal of a call aborts with a precise status code (see ``proto/longtail/v1/models.proto``) and one
log line; a registry outage (``StorageError`` with ``retryable``) is UNAVAILABLE.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any, NoReturn

import grpc
from google.protobuf.message import Message

from agent.errors import PackageRefusedError
from agent.updates.verify import check_version
from backend.errors import BackendError
from backend.ingest.auth import TokenAuthenticator
from backend.ingest.errors import IngestRejected, abort_call, parse_message
from backend.release.types import HealthReport, UpdateSource
from core.errors import CoreError
from core.formats.model_archive import key_fingerprint
from longtail.v1 import models_pb2

log = logging.getLogger(__name__)

SERVICE_NAME: str = models_pb2.DESCRIPTOR.services_by_name["ModelUpdates"].full_name

#: Bytes of archive per DownloadChunk: well under the server's 1 MiB send limit.
DEFAULT_CHUNK_BYTES = 256 * 1024
#: characters of a refusal's reason that are kept
MAX_REASON = 1000


def _version(value: str, field: str) -> str:
    try:
        return check_version(value)
    except PackageRefusedError as exc:
        raise IngestRejected(
            grpc.StatusCode.INVALID_ARGUMENT, f"{field} {value[:64]!r}: {exc.reason}"
        ) from exc


def health_from_message(message: models_pb2.HealthReport) -> HealthReport:
    """The report as the rollout sees it, with the refusal it carries (its reason cut at
    ``MAX_REASON`` characters); INVALID_ARGUMENT for a bad version or refused version or a
    latency or score that is negative or not finite."""
    version = _version(message.version, "version")
    for name in ("latency_ms_p50", "latency_ms_p99", "score_mean", "score_p95"):
        value = getattr(message, name)
        if not math.isfinite(value) or value < 0:
            raise IngestRejected(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"health report of {version!r}: {name} must be finite and >= 0, got {value}",
            )
    refused = None
    if message.refused_version:
        refused = _version(message.refused_version, "refused_version")
    if message.triggers > message.frames:
        raise IngestRejected(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"health report of {version!r}: {message.triggers} triggers on {message.frames} frames",
        )
    return HealthReport(
        version=version,
        frames=message.frames,
        triggers=message.triggers,
        errors=message.errors,
        latency_ms_p50=message.latency_ms_p50,
        latency_ms_p99=message.latency_ms_p99,
        score_mean=message.score_mean,
        score_p95=message.score_p95,
        refused_version=refused,
        refused_reason=message.refused_reason[:MAX_REASON] if refused else "",
    )


class ModelUpdatesService:
    """Implements ``longtail.v1.ModelUpdates`` over an :class:`UpdateSource`."""

    def __init__(
        self,
        *,
        authenticator: TokenAuthenticator,
        delivery: UpdateSource,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        if chunk_bytes <= 0:
            raise ValueError(f"chunk_bytes must be > 0, got {chunk_bytes}")
        self._auth = authenticator
        self._delivery = delivery
        self.chunk_bytes = chunk_bytes

    def _abort(self, context: Any, rpc: str, who: str, exc: Exception) -> NoReturn:
        """Log one line and end the call with the status that fits ``exc``."""
        abort_call(context, log, rpc, who, exc, store="registry")

    def GetAssignment(  # noqa: N802 - the RPC name of the contract
        self, request: models_pb2.GetAssignmentRequest, context: Any
    ) -> models_pb2.ModelAssignment:
        """The package the calling vehicle should run (``assigned = false``: none)."""
        who = context.peer()
        try:
            vehicle = self._auth.authenticate(context.invocation_metadata()).name
            who = f"vehicle {vehicle}"
            found = self._delivery.assignment_for(vehicle)
        except (BackendError, CoreError, ValueError) as exc:
            self._abort(context, "GetAssignment", who, exc)
        if found is None:
            return models_pb2.ModelAssignment(assigned=False)
        if found.version != request.current_version:
            log.info(
                "vehicle %s runs %r, assigned %r (%d bytes)",
                vehicle,
                request.current_version,
                found.version,
                found.size,
            )
        return models_pb2.ModelAssignment(
            assigned=True,
            version=found.version,
            digest=found.digest,
            size=found.size,
            signature=found.signature,
            public_key_id=key_fingerprint(found.public_key) if found.public_key else "",
        )

    def Download(  # noqa: N802 - the RPC name of the contract
        self, request: models_pb2.DownloadRequest, context: Any
    ) -> Iterator[models_pb2.DownloadChunk]:
        """The assigned archive from ``request.offset`` in chunks of ``chunk_bytes``."""
        who = context.peer()
        try:
            vehicle = self._auth.authenticate(context.invocation_metadata()).name
            who = f"vehicle {vehicle}"
            version = _version(request.version, "version")
            assignment = self._delivery.assignment_for(vehicle)
            if assignment is None or assignment.version != version:
                raise IngestRejected(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"version {version!r} is not assigned to vehicle {vehicle!r} (assigned: "
                    f"{assignment.version if assignment else None!r}); ask GetAssignment again",
                )
            data = self._delivery.open_archive(version)
            if len(data) != assignment.size:
                raise IngestRejected(
                    grpc.StatusCode.DATA_LOSS,
                    f"archive of {version!r} holds {len(data)} bytes, the registry says "
                    f"{assignment.size}",
                )
            if request.offset > len(data):
                raise IngestRejected(
                    grpc.StatusCode.OUT_OF_RANGE,
                    f"offset {request.offset} is past the end of {version!r} ({len(data)} bytes)",
                )
        except (BackendError, CoreError, ValueError) as exc:
            self._abort(context, "Download", who, exc)
        log.info(
            "vehicle %s downloads %r from offset %d of %d",
            vehicle,
            version,
            request.offset,
            len(data),
        )
        for offset in range(request.offset, len(data), self.chunk_bytes):
            yield models_pb2.DownloadChunk(
                offset=offset, data=data[offset : offset + self.chunk_bytes], size=len(data)
            )

    def ReportHealth(  # noqa: N802 - the RPC name of the contract
        self, request: models_pb2.HealthReport, context: Any
    ) -> models_pb2.ReportHealthReply:
        """Hand the report, and the refusal it carries, to the rollout (a canary's refusals
        count against its health)."""
        who = context.peer()
        try:
            vehicle = self._auth.authenticate(context.invocation_metadata()).name
            who = f"vehicle {vehicle}"
            report = health_from_message(request)
            self._delivery.report_health(vehicle, report)
        except (BackendError, CoreError, ValueError) as exc:
            self._abort(context, "ReportHealth", who, exc)
        return models_pb2.ReportHealthReply()


def model_updates_handler(service: ModelUpdatesService) -> grpc.GenericRpcHandler:
    """The ModelUpdates service with requests parsed here rather than by gRPC, so a malformed
    protobuf gets INVALID_ARGUMENT and a log line (gRPC's own parser answers INTERNAL)."""

    def unary(name: str, kind: type[Message], call: Any) -> Any:
        def handle(raw: bytes, context: grpc.ServicerContext) -> Any:
            try:
                request = parse_message(kind, raw)
            except IngestRejected as exc:
                log.warning("%s refused for %s: %s: %s", name, context.peer(), exc.code.name, exc)
                context.abort(exc.code, str(exc))
            return call(request, context)

        return handle

    return grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            "GetAssignment": grpc.unary_unary_rpc_method_handler(
                unary("GetAssignment", models_pb2.GetAssignmentRequest, service.GetAssignment),
                response_serializer=models_pb2.ModelAssignment.SerializeToString,
            ),
            "Download": grpc.unary_stream_rpc_method_handler(
                unary("Download", models_pb2.DownloadRequest, service.Download),
                response_serializer=models_pb2.DownloadChunk.SerializeToString,
            ),
            "ReportHealth": grpc.unary_unary_rpc_method_handler(
                unary("ReportHealth", models_pb2.HealthReport, service.ReportHealth),
                response_serializer=models_pb2.ReportHealthReply.SerializeToString,
            ),
        },
    )
