"""A minimal in-test Ingest servicer with fault injection (DESIGN allows one in tests/).

It implements the v1 contract the client relies on — offsets, resume, idempotence, SHA-256
check — and lets a test script failures: abort the next calls with given status codes, or cut a
stream after some bytes (the committed prefix is kept, as the real server does).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc

from longtail.v1 import ingest_pb2, ingest_pb2_grpc

Status = ingest_pb2.UploadAck.Status


class FakeIngest(ingest_pb2_grpc.IngestServicer):
    def __init__(self, token: str = "secret") -> None:
        self.token = token
        self.staged: dict[str, bytearray] = {}
        self.stored: dict[str, bytes] = {}
        self.metadata: dict[str, Any] = {}
        self.faults: list[grpc.StatusCode] = []  # abort the next Upload calls with these
        self.cut_after_bytes: int | None = None  # end the next stream after this many bytes
        self.upload_calls = 0
        self.first_offsets: list[int] = []
        self.lock = threading.Lock()

    def _auth(self, context: Any) -> None:
        headers = dict(context.invocation_metadata())
        if headers.get("authorization") != f"Bearer {self.token}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad token")

    def QueryOffset(  # noqa: N802
        self, request: ingest_pb2.QueryOffsetRequest, context: Any
    ) -> ingest_pb2.QueryOffsetReply:
        self._auth(context)
        with self.lock:
            if request.frame_id in self.stored:
                size = len(self.stored[request.frame_id])
                return ingest_pb2.QueryOffsetReply(
                    frame_id=request.frame_id, committed_offset=size, stored=True
                )
            held = len(self.staged.get(request.frame_id, b""))
        return ingest_pb2.QueryOffsetReply(frame_id=request.frame_id, committed_offset=held)

    def Upload(  # noqa: N802
        self, request_iterator: Iterator[ingest_pb2.UploadChunk], context: Any
    ) -> ingest_pb2.UploadAck:
        self._auth(context)
        with self.lock:
            self.upload_calls += 1
            fault = self.faults.pop(0) if self.faults else None
            cut, self.cut_after_bytes = self.cut_after_bytes, None
        if fault is not None:
            context.abort(fault, f"injected {fault.name}")
        first = next(request_iterator)
        if not first.HasField("metadata"):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no metadata on the first chunk")
        meta = first.metadata
        frame_id = meta.frame_id
        self.first_offsets.append(first.offset)
        with self.lock:
            if frame_id in self.stored:
                return ingest_pb2.UploadAck(frame_id=frame_id, status=Status.STATUS_ALREADY_STORED)
            buf = self.staged.setdefault(frame_id, bytearray())
        received = 0
        chunk: ingest_pb2.UploadChunk | None = first
        while chunk is not None:
            if chunk.offset != len(buf):
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"offset {chunk.offset} != {len(buf)}"
                )
            buf.extend(chunk.data)
            received += len(chunk.data)
            if chunk.last:
                break
            if cut is not None and received >= cut:
                context.abort(grpc.StatusCode.UNAVAILABLE, "link cut")
            chunk = next(request_iterator, None)
        if chunk is None or not chunk.last:
            return ingest_pb2.UploadAck(
                frame_id=frame_id, status=Status.STATUS_PARTIAL, committed_offset=len(buf)
            )
        payload = bytes(buf)
        with self.lock:
            del self.staged[frame_id]
            if hashlib.sha256(payload).hexdigest() != frame_id:
                context.abort(grpc.StatusCode.DATA_LOSS, "payload hash mismatch")
            self.stored[frame_id] = payload
            self.metadata[frame_id] = meta
        return ingest_pb2.UploadAck(
            frame_id=frame_id, status=Status.STATUS_STORED, committed_offset=len(payload)
        )


def serve(servicer: FakeIngest) -> tuple[grpc.Server, int]:
    """Start ``servicer`` on a free loopback port; returns the server and the port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    ingest_pb2_grpc.add_IngestServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port
