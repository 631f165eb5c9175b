"""Start the ingest gRPC server: the Ingest service plus gRPC health checking and reflection,
over TLS when a certificate is given; other vehicle-facing services (model delivery) can be
served beside it, sharing its port, TLS and workers. :func:`start_ingest_server` returns a handle with the bound
port and ``stop()``; it is what ``longtail backend serve`` and the tests use."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from backend.ingest.errors import IngestRejected, parse_message
from backend.ingest.service import IngestService
from core.errors import ConfigError
from longtail.v1 import ingest_pb2

log = logging.getLogger(__name__)

SERVICE_NAME: str = ingest_pb2.DESCRIPTOR.services_by_name["Ingest"].full_name

#: room for the protobuf framing and the first chunk's metadata on top of the chunk limit
_MESSAGE_SLACK_BYTES = 64 * 1024


def ingest_handler(service: IngestService) -> grpc.GenericRpcHandler:
    """The Ingest service with requests parsed here rather than by gRPC, so a malformed
    protobuf gets INVALID_ARGUMENT and a log line (gRPC's own parser answers INTERNAL)."""

    def query_offset(raw: bytes, context: grpc.ServicerContext) -> ingest_pb2.QueryOffsetReply:
        try:
            request = parse_message(ingest_pb2.QueryOffsetRequest, raw)
        except IngestRejected as exc:
            log.warning("QueryOffset refused for %s: %s: %s", context.peer(), exc.code.name, exc)
            context.abort(exc.code, str(exc))
        return service.QueryOffset(request, context)

    def upload(raw: Iterator[bytes], context: grpc.ServicerContext) -> ingest_pb2.UploadAck:
        # a parse failure raises IngestRejected inside the service, which logs and aborts
        return service.Upload((parse_message(ingest_pb2.UploadChunk, r) for r in raw), context)

    return grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            "QueryOffset": grpc.unary_unary_rpc_method_handler(
                query_offset, response_serializer=ingest_pb2.QueryOffsetReply.SerializeToString
            ),
            "Upload": grpc.stream_unary_rpc_method_handler(
                upload, response_serializer=ingest_pb2.UploadAck.SerializeToString
            ),
        },
    )


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of the server's certificate chain and private key."""

    cert: Path
    key: Path


@dataclass
class IngestServerHandle:
    """A running ingest server: where it listens and how to stop it."""

    server: Any
    host: str
    port: int
    tls: bool
    health: health.HealthServicer
    _stopped: bool = field(default=False, repr=False)

    @property
    def target(self) -> str:
        """``host:port`` for a client channel."""
        return f"{self.host}:{self.port}"

    def stop(self, grace_s: float | None = 5.0) -> None:
        """Refuse new calls, let running ones finish for ``grace_s`` seconds, then stop."""
        if self._stopped:
            return
        self._stopped = True
        self.health.enter_graceful_shutdown()
        self.server.stop(grace_s).wait()
        log.info("ingest server on %s stopped", self.target)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the server stops (or the timeout passes); True if it stopped."""
        return bool(self.server.wait_for_termination(timeout_s))


def start_ingest_server(
    service: IngestService,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: TlsFiles | None = None,
    workers: int = 32,
    max_concurrent_rpcs: int = 1024,
    services: Sequence[tuple[str, grpc.GenericRpcHandler]] = (),
) -> IngestServerHandle:
    """Bind ``host:port`` (0 picks a free port), start serving and return the handle.

    ``services``: more (full service name, handler) pairs to serve on the same server; they
    are reported SERVING by health checking and listed by reflection like Ingest."""
    limits = service.limits
    max_message = limits.max_chunk_bytes + limits.max_metadata_bytes + _MESSAGE_SLACK_BYTES
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest"),
        options=[
            ("grpc.max_receive_message_length", max_message),
            ("grpc.max_send_message_length", 1024 * 1024),
            # notice dead vehicles (cut links) so their streams end and staging is flushed
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 1),
        ],
        # queued streams hold only gRPC's flow-control window; payloads are read into memory
        # by at most ``workers`` threads at a time, so memory stays near workers x frame limit
        maximum_concurrent_rpcs=max_concurrent_rpcs,
    )
    server.add_generic_rpc_handlers((ingest_handler(service), *(h for _, h in services)))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            SERVICE_NAME,
            *(name for name, _ in services),
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    address = f"{host}:{port}"
    try:
        if tls is not None:
            credentials = grpc.ssl_server_credentials(
                [(tls.key.read_bytes(), tls.cert.read_bytes())]
            )
            bound = server.add_secure_port(address, credentials)
        else:
            bound = server.add_insecure_port(address)
    except (OSError, RuntimeError) as exc:
        raise ConfigError(f"cannot listen for ingest on {address}: {exc}") from exc
    if bound == 0:
        raise ConfigError(
            f"cannot listen for ingest on {address}: the address is in use or invalid"
        )
    server.start()
    for name in (SERVICE_NAME, *(name for name, _ in services)):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    log.info("ingest listening on %s:%d (%s)", host, bound, "TLS" if tls else "plaintext")
    return IngestServerHandle(
        server=server, host=host, port=bound, tls=tls is not None, health=health_servicer
    )
