"""A small ingest client for the backend's own tests (the vehicle uploader lives in agent/upload).

It can do what a real client does (query the offset, stream from it) and what a broken or hostile
one does (stop early, lie about offsets, send wrong bytes), so every server path is reachable.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import numpy as np

from core.formats.codec import encode_frame
from longtail.v1 import frame_pb2, ingest_pb2, ingest_pb2_grpc

Status = ingest_pb2.UploadAck.Status


@dataclass(frozen=True)
class SampleFrame:
    """An encoded payload and the metadata that goes with it."""

    payload: bytes
    metadata: frame_pb2.FrameMetadata

    @property
    def frame_id(self) -> str:
        """The SHA-256 of the payload."""
        return self.metadata.frame_id


def make_frame(vehicle: str, num_points: int = 2000, seed: int = 0) -> SampleFrame:
    """A real codec-encoded frame of random points with plausible metadata."""
    rng = np.random.default_rng(seed)
    points = np.empty((num_points, 4), dtype=np.float32)
    points[:, :3] = rng.uniform(-50, 50, size=(num_points, 3))
    points[:, 3] = rng.uniform(0, 1, size=num_points)
    payload = encode_frame(points)
    return SampleFrame(payload, metadata_for(payload, vehicle, num_points, seed))


def metadata_for(
    payload: bytes, vehicle: str, num_points: int, seed: int = 0
) -> frame_pb2.FrameMetadata:
    """Metadata describing ``payload`` (frame id = its SHA-256)."""
    meta = frame_pb2.FrameMetadata(
        frame_id=hashlib.sha256(payload).hexdigest(),
        vehicle_id=vehicle,
        timestamp_ns=1_700_000_000_000_000_000 + seed,
        model_version="pointpillars-1",
        rules_fired=["high_entropy"],
        priority=0.5 + seed / 1000,
        payload_size=len(payload),
        encoding=frame_pb2.PointCloud.ENCODING_LOSSLESS,
        num_points=num_points,
    )
    meta.pose.x, meta.pose.yaw = 10.0, 0.25
    meta.sensor.name, meta.sensor.beams, meta.sensor.max_range_m = "hdl64", 64, 120.0
    meta.frame_scores["entropy"] = 0.93
    det = meta.detections.add(class_name="car", confidence=0.7, num_points=40)
    det.box.x, det.box.l, det.box.w, det.box.h = 5.0, 4.2, 1.8, 1.5
    det.scores["entropy"] = 0.4
    return meta


def chunks(
    frame: SampleFrame,
    *,
    start: int = 0,
    chunk_bytes: int = 64 * 1024,
    stop_at: int | None = None,
    pause_s: float = 0.0,
    data: bytes | None = None,
) -> Iterator[ingest_pb2.UploadChunk]:
    """Upload chunks from ``start``; ``stop_at`` ends the stream early (no ``last``) at that byte;
    ``data`` replaces the payload bytes sent (for checksum tests); ``pause_s`` sleeps after each."""
    payload = frame.payload if data is None else data
    end = len(payload) if stop_at is None else stop_at
    offset = start
    first = True
    while True:
        piece = payload[offset : min(offset + chunk_bytes, end)]
        last = stop_at is None and offset + len(piece) >= len(payload)
        chunk = ingest_pb2.UploadChunk(offset=offset, data=piece, last=last)
        if first:
            chunk.metadata.CopyFrom(frame.metadata)
            first = False
        yield chunk
        offset += len(piece)
        if pause_s:
            time.sleep(pause_s)
        if last or offset >= end:
            return


class IngestTestClient:
    """Calls the ingest service with a vehicle's token."""

    def __init__(self, channel: grpc.Channel, token: str | None) -> None:
        self.stub = ingest_pb2_grpc.IngestStub(channel)
        self.auth = () if token is None else (("authorization", f"Bearer {token}"),)

    def query(self, frame_id: str) -> ingest_pb2.QueryOffsetReply:
        """QueryOffset for ``frame_id``."""
        reply: ingest_pb2.QueryOffsetReply = self.stub.QueryOffset(
            ingest_pb2.QueryOffsetRequest(frame_id=frame_id), metadata=self.auth, timeout=30
        )
        return reply

    def send(self, stream: Iterator[ingest_pb2.UploadChunk]) -> ingest_pb2.UploadAck:
        """One Upload call with the given chunks."""
        ack: ingest_pb2.UploadAck = self.stub.Upload(stream, metadata=self.auth, timeout=60)
        return ack

    def upload(self, frame: SampleFrame, chunk_bytes: int = 64 * 1024) -> ingest_pb2.UploadAck:
        """Upload ``frame`` the way a well-behaved client does: resume from the committed offset."""
        reply = self.query(frame.frame_id)
        if reply.stored:
            return ingest_pb2.UploadAck(
                frame_id=frame.frame_id,
                status=Status.STATUS_ALREADY_STORED,
                committed_offset=reply.committed_offset,
            )
        return self.send(chunks(frame, start=reply.committed_offset, chunk_bytes=chunk_bytes))


def rpc_code(exc: grpc.RpcError) -> grpc.StatusCode:
    """The status code of a failed call."""
    assert isinstance(exc, grpc.Call)
    code: grpc.StatusCode = exc.code()
    return code
