"""Checks on what a vehicle sends, each failure an IngestRejected with a precise status code,
and the conversion of accepted metadata into a :class:`FrameRecord`."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import grpc

from backend.ingest.errors import IngestRejected
from backend.metadata.records import DetectionRecord, FrameRecord
from core.errors import FormatError
from core.formats.codec import FrameHeader, peek_header
from longtail.v1 import frame_pb2

log = logging.getLogger(__name__)

_FRAME_ID_RE = re.compile(r"^[0-9a-f]{64}$")

#: bytes per decoded point: float32 x, y, z, intensity (DESIGN.md, "Points")
BYTES_PER_POINT = 16

_INVALID = grpc.StatusCode.INVALID_ARGUMENT
#: Over a size limit is refused for good (INVALID_ARGUMENT: the vehicle quarantines the frame);
#: RESOURCE_EXHAUSTED stays reserved for overload (too many streams), which a vehicle retries.
_TOO_BIG = grpc.StatusCode.INVALID_ARGUMENT


@dataclass(frozen=True)
class IngestLimits:
    """What one upload may be: payload bytes, bytes per chunk, metadata bytes, decoded bytes."""

    max_frame_bytes: int = 64 * 1024 * 1024
    max_chunk_bytes: int = 4 * 1024 * 1024
    max_metadata_bytes: int = 1024 * 1024
    max_decompressed_bytes: int = 256 * 1024 * 1024


def check_frame_id(frame_id: str) -> str:
    """Return ``frame_id`` if it is lowercase hex SHA-256, else INVALID_ARGUMENT."""
    if not _FRAME_ID_RE.match(frame_id):
        raise IngestRejected(_INVALID, f"frame_id {frame_id[:80]!r} is not 64 lowercase hex digits")
    return frame_id


def _finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise IngestRejected(_INVALID, f"{name} must be finite, got {value}")


def check_metadata(meta: frame_pb2.FrameMetadata, vehicle: str, limits: IngestLimits) -> None:
    """Validate the first chunk's metadata for an upload by ``vehicle``."""
    size = meta.ByteSize()
    if size > limits.max_metadata_bytes:
        raise IngestRejected(
            _TOO_BIG, f"metadata is {size} bytes, over the limit of {limits.max_metadata_bytes}"
        )
    check_frame_id(meta.frame_id)
    if meta.vehicle_id != vehicle:
        raise IngestRejected(
            grpc.StatusCode.PERMISSION_DENIED,
            f"metadata.vehicle_id {meta.vehicle_id[:80]!r} does not match the token's vehicle {vehicle!r}",
        )
    if meta.payload_size == 0:
        raise IngestRejected(
            _INVALID, f"frame {meta.frame_id}: payload_size must be positive, got 0"
        )
    if meta.payload_size > limits.max_frame_bytes:
        raise IngestRejected(
            _TOO_BIG,
            f"frame {meta.frame_id}: payload_size {meta.payload_size} is over the limit of {limits.max_frame_bytes} bytes",
        )
    check_decoded_points(meta.frame_id, meta.num_points, "metadata.num_points", limits)
    # Column widths of the metadata schema; PostgreSQL enforces them, so refuse here, precisely.
    for field_name, text, width in (
        ("sensor.name", meta.sensor.name, 64),
        ("model_version", meta.model_version, 128),
        *((f"detections[{i}].class_name", d.class_name, 64) for i, d in enumerate(meta.detections)),
    ):
        if len(text) > width:
            raise IngestRejected(
                _INVALID, f"{field_name} is {len(text)} characters, over the limit of {width}"
            )
    _finite("priority", meta.priority)
    _finite("quantization_step_m", meta.quantization_step_m)
    for name, value in meta.frame_scores.items():
        _finite(f"frame_scores[{name!r}]", value)
    for i, det in enumerate(meta.detections):
        _finite(f"detections[{i}].confidence", det.confidence)
        for field in ("x", "y", "z", "l", "w", "h", "yaw"):
            _finite(f"detections[{i}].box.{field}", getattr(det.box, field))


def check_decoded_points(frame_id: str, num_points: int, source: str, limits: IngestLimits) -> None:
    """INVALID_ARGUMENT if ``num_points`` decoded points would exceed the decompressed limit."""
    decoded = num_points * BYTES_PER_POINT
    if decoded > limits.max_decompressed_bytes:
        raise IngestRejected(
            _TOO_BIG,
            f"frame {frame_id}: {source} = {num_points} decodes to {decoded} bytes, "
            f"over the limit of {limits.max_decompressed_bytes}",
        )


#: reads and validates an encoded frame's header without decoding it
HeaderReader = Callable[[bytes], FrameHeader]


class PayloadChecker:
    """Checks a complete payload's codec header against the metadata and the decoded-size limit
    before anything decodes it (a decompression bomb is refused from its header alone). The header
    reader is the codec's own (:func:`core.formats.codec.peek_header`): one implementation."""

    def __init__(self, limits: IngestLimits, read_header: HeaderReader = peek_header) -> None:
        self._limits = limits
        self._read_header = read_header

    def check(self, meta: frame_pb2.FrameMetadata, payload: bytes) -> None:
        """INVALID_ARGUMENT for an unreadable header or one that disagrees with the metadata;
        INVALID_ARGUMENT for a header that claims too many points."""
        try:
            header = self._read_header(payload)
        except FormatError as exc:
            raise IngestRejected(
                _INVALID, f"frame {meta.frame_id}: payload header is unreadable: {exc}"
            ) from exc
        check_decoded_points(
            meta.frame_id, header.num_points, "payload header num_points", self._limits
        )
        if header.num_points != meta.num_points:
            raise IngestRejected(
                _INVALID,
                f"frame {meta.frame_id}: payload header says {header.num_points} points, "
                f"metadata says {meta.num_points}",
            )
        # the codec's encoding numbers are the proto's PointCloud.Encoding values
        if int(header.encoding) != int(meta.encoding):
            raise IngestRejected(
                _INVALID,
                f"frame {meta.frame_id}: payload header encoding is {header.encoding.name}, "
                f"metadata says {_encoding_name(meta.encoding)}",
            )


def _encoding_name(value: int) -> str:
    try:
        return frame_pb2.PointCloud.Encoding.Name(value)  # type: ignore[arg-type]
    except ValueError:  # proto3 enums are open: a newer agent may send a value we do not know
        return f"ENCODING_{value}"


def frame_record(
    meta: frame_pb2.FrameMetadata, blob_key: str, received_at: datetime
) -> FrameRecord:
    """The row stored for an accepted frame."""
    pose = meta.pose
    return FrameRecord(
        id=meta.frame_id,
        vehicle=meta.vehicle_id,
        captured_at_ns=meta.timestamp_ns,
        received_at=received_at,
        pose={k: getattr(pose, k) for k in ("x", "y", "z", "roll", "pitch", "yaw")},
        sensor_name=meta.sensor.name,
        sensor_beams=meta.sensor.beams,
        sensor_max_range_m=meta.sensor.max_range_m,
        model_version=meta.model_version,
        frame_scores=dict(meta.frame_scores),
        rules_fired=list(meta.rules_fired),
        priority=meta.priority,
        blob_key=blob_key,
        payload_size=meta.payload_size,
        num_points=meta.num_points,
        encoding=_encoding_name(meta.encoding),
        quantization_step_m=meta.quantization_step_m,
        detections=[
            DetectionRecord(
                class_name=d.class_name,
                confidence=d.confidence,
                box=(d.box.x, d.box.y, d.box.z, d.box.l, d.box.w, d.box.h, d.box.yaw),
                num_points=d.num_points,
                scores=dict(d.scores),
            )
            for d in meta.detections
        ],
    )
