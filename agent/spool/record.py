"""The spool file format: one self-checking file per frame.

::

    offset  size  field
    0       8     magic  b"LTSPOOL1"
    8       4     metadata length M   (uint32, little-endian)
    12      8     payload length P    (uint64, little-endian)
    20      M     FrameMetadata protobuf (longtail.v1)
    20+M    P     payload: the codec-encoded points (what is uploaded; its SHA-256 is the frame id)
    20+M+P  32    SHA-256 of bytes [0, 20+M+P)

Why one file and not payload + manifest: a single rename commits metadata and payload together,
so no crash can leave one without the other, and recovery needs no cross-file consistency pass.
The trailing checksum covers the header too; the frame id additionally pins the payload.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from agent.errors import SpoolError
from longtail.v1 import frame_pb2

MAGIC = b"LTSPOOL1"
_HEADER = struct.Struct("<8sIQ")
DIGEST_BYTES = 32
SUFFIX = ".ltf"


class CorruptRecordError(SpoolError):
    """A spool file whose structure or checksum is wrong (names the file and the defect)."""


@dataclass(frozen=True)
class SpoolRecord:
    """A selected frame as stored: metadata (with ``frame_id`` set) and the encoded payload."""

    metadata: frame_pb2.FrameMetadata
    payload: bytes

    @property
    def frame_id(self) -> str:
        return self.metadata.frame_id

    @property
    def priority(self) -> float:
        return self.metadata.priority


def frame_id_of(payload: bytes) -> str:
    """Lowercase hex SHA-256 of the encoded payload: the frame's identity."""
    return hashlib.sha256(payload).hexdigest()


def encode_record(record: SpoolRecord) -> bytes:
    """Serialise a record; refuses one whose frame id does not match its payload."""
    if record.frame_id != frame_id_of(record.payload):
        raise SpoolError(
            f"frame id {record.frame_id!r} is not the SHA-256 of its {len(record.payload)}-byte payload"
        )
    meta = record.metadata.SerializeToString(deterministic=True)
    body = _HEADER.pack(MAGIC, len(meta), len(record.payload)) + meta + record.payload
    return body + hashlib.sha256(body).digest()


def decode_record(data: bytes, source: str) -> SpoolRecord:
    """Parse and verify a spool file's bytes; ``source`` names it in CorruptRecordError."""
    if len(data) < _HEADER.size + DIGEST_BYTES:
        raise CorruptRecordError(f"{source}: {len(data)} bytes is shorter than the fixed header")
    magic, meta_len, payload_len = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CorruptRecordError(f"{source}: bad magic {magic!r}, expected {MAGIC!r}")
    expected = _HEADER.size + meta_len + payload_len + DIGEST_BYTES
    if len(data) != expected:
        raise CorruptRecordError(
            f"{source}: size {len(data)} bytes, header says {expected} (truncated or extended)"
        )
    body, digest = data[:-DIGEST_BYTES], data[-DIGEST_BYTES:]
    if hashlib.sha256(body).digest() != digest:
        raise CorruptRecordError(f"{source}: checksum mismatch")
    metadata = frame_pb2.FrameMetadata()
    try:
        metadata.ParseFromString(body[_HEADER.size : _HEADER.size + meta_len])
    except Exception as exc:  # protobuf raises DecodeError; anything else is equally corrupt
        raise CorruptRecordError(f"{source}: metadata does not parse: {exc}") from exc
    payload = body[_HEADER.size + meta_len :]
    if metadata.frame_id != frame_id_of(payload):
        raise CorruptRecordError(f"{source}: frame id does not match the payload's SHA-256")
    return SpoolRecord(metadata, payload)
