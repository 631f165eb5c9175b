"""The gRPC ingest client: resumable, idempotent, authenticated upload of one spooled frame.

One ``upload`` call: ``QueryOffset`` (how much the server already holds), then one client stream
from that offset, the first chunk carrying the metadata. The outcome is a result for the stored
cases and an exception otherwise: ``TransientUploadError`` (retry later, keep the frame) or
``PermanentUploadError`` (the backend refuses this frame for good: quarantine it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from enum import Enum
from pathlib import Path

import grpc

from agent.errors import UploadError
from agent.spool.record import SpoolRecord
from agent.upload.backoff import BandwidthLimiter
from core.errors import ConfigError
from longtail.v1 import ingest_pb2, ingest_pb2_grpc

log = logging.getLogger(__name__)

#: Status codes worth retrying. UNAUTHENTICATED / PERMISSION_DENIED are here too: they concern the
#: vehicle's token, not the frame, and quarantining every frame over a rotated token would lose data.
#: DATA_LOSS (the server's SHA-256 of the staged bytes is not the frame id) and FAILED_PRECONDITION
#: (the server lost staged bytes between QueryOffset and Upload) are retried from a fresh offset:
#: the spool record is self-checking, so the id of the bytes we hold is right and the fault was
#: on the way. Only INVALID_ARGUMENT (malformed, or over a size limit) quarantines a frame.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
    }
)


class TransientUploadError(UploadError):
    """Delivery failed for now (network, server overload, partial stream); keep and retry."""


class PermanentUploadError(UploadError):
    """The backend refused this frame for good (INVALID_ARGUMENT, DATA_LOSS, ...)."""


class Delivered(Enum):
    STORED = "stored"
    ALREADY_STORED = "already_stored"


def make_channel(endpoint: str, ca_file: Path | None) -> grpc.Channel:
    """A channel to ``endpoint`` (host:port); TLS verified against ``ca_file`` when given."""
    if ca_file is None:
        return grpc.insecure_channel(endpoint)
    try:
        roots = ca_file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"upload.ca_file {ca_file}: cannot read: {exc.strerror}") from exc
    return grpc.secure_channel(endpoint, grpc.ssl_channel_credentials(root_certificates=roots))


class IngestClient:
    """Uploads spooled frames over ``channel`` with the vehicle's bearer ``token``.

    ``chunk_bytes`` is the payload slice per stream message; ``timeout_s`` bounds each RPC
    (seconds); ``limiter`` enforces the bandwidth cap; ``should_stop`` ends a stream early on
    shutdown (the server keeps the committed prefix; the next attempt resumes from it).
    """

    def __init__(
        self,
        channel: grpc.Channel,
        token: str,
        limiter: BandwidthLimiter,
        *,
        chunk_bytes: int = 256 * 1024,
        timeout_s: float = 60.0,
    ) -> None:
        self._stub = ingest_pb2_grpc.IngestStub(channel)
        self._auth = (("authorization", f"Bearer {token}"),)
        self._limiter = limiter
        self.chunk_bytes = chunk_bytes
        self.timeout_s = timeout_s
        self.bytes_sent = 0

    def upload(self, record: SpoolRecord) -> Delivered:
        """Deliver ``record``; raises TransientUploadError or PermanentUploadError."""
        frame_id = record.frame_id
        try:
            reply = self._stub.QueryOffset(
                ingest_pb2.QueryOffsetRequest(frame_id=frame_id),
                metadata=self._auth,
                timeout=self.timeout_s,
            )
            if reply.stored:
                return Delivered.ALREADY_STORED
            offset = reply.committed_offset
            if offset > len(record.payload):
                log.warning(
                    "server holds %d bytes of %d-byte frame_id=%s; restarting from 0",
                    offset,
                    len(record.payload),
                    frame_id,
                )
                offset = 0
            if offset:
                log.info(
                    "resuming frame_id=%s at offset %d of %d", frame_id, offset, len(record.payload)
                )
            ack = self._stub.Upload(
                self._chunks(record, offset), metadata=self._auth, timeout=self.timeout_s
            )
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            message = f"frame {frame_id}: {code.name}: {details}"
            if code in RETRYABLE:
                raise TransientUploadError(message) from exc
            raise PermanentUploadError(message) from exc
        if ack.status == ingest_pb2.UploadAck.STATUS_STORED:
            return Delivered.STORED
        if ack.status == ingest_pb2.UploadAck.STATUS_ALREADY_STORED:
            return Delivered.ALREADY_STORED
        raise TransientUploadError(
            f"frame {frame_id}: server holds {ack.committed_offset} of {len(record.payload)} "
            f"bytes (status {ingest_pb2.UploadAck.Status.Name(ack.status)})"
        )

    def _chunks(self, record: SpoolRecord, offset: int) -> Iterator[ingest_pb2.UploadChunk]:
        payload = record.payload
        first = True
        while True:
            data = payload[offset : offset + self.chunk_bytes]
            if not self._limiter.acquire(len(data)):
                return  # stopping: end the stream; the server acknowledges PARTIAL
            last = offset + len(data) >= len(payload)
            chunk = ingest_pb2.UploadChunk(offset=offset, data=data, last=last)
            if first:
                chunk.metadata.CopyFrom(record.metadata)
                first = False
            # counted when handed to gRPC: the thread draining this generator may not resume it
            # after the last chunk before the ack arrives
            self.bytes_sent += len(data)
            yield chunk
            offset += len(data)
            if last:
                return
