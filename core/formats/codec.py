"""The compact frame codec used for transport: a versioned header plus a zstd payload.

Layout (all integers little-endian)::

    offset size field
    0      4    magic b"LTPC"
    4      1    version (1)
    5      1    encoding: 1 = lossless, 2 = quantized (= proto PointCloud.Encoding)
    6      2    flags, must be 0
    8      4    num_points N (uint32)
    12     8    quantization_step_m (float64; 0.0 for lossless)
    20     4    payload_bytes (uint32): length of the zstd frame that follows the header
    24     4    CRC32 of the decoded points (float32 (N, 4), little-endian, C order)
    28     4    CRC32 of bytes 0..27 (a corrupt header is refused before it is trusted)
    32     ...  one zstd frame (with its content size), exactly payload_bytes long

Payloads before zstd:

* lossless: the ``(N, 4)`` float32 array split into its 16 byte planes (byte ``k`` of column
  ``c`` of every point, plane after plane). Neighbouring points share sign, exponent and
  high mantissa bytes, so the planes compress far better than interleaved records.
* quantized: x, y, z as int32 grid indices ``q = round(v / step)``, each column delta-coded
  along the point order (wrapping uint32 arithmetic, exactly invertible), zig-zag mapped so
  small negative steps stay small, split into 12 byte planes; then intensity as one uint8
  plane ``round(i * 255)``.

Encoding is deterministic: the same points, step and level always give the same bytes, which
keeps the frame identity (SHA-256 of the payload, DESIGN.md) stable.
"""

from __future__ import annotations

import enum
import math
import struct
import zlib
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import zstandard

from core.errors import FormatError
from core.formats._codec_kernels import MAX_GRID_INDEX, dequantize_into, quantize_into
from core.formats.kitti_bin import validate_points

MAGIC: Final = b"LTPC"
VERSION: Final = 1
HEADER = struct.Struct("<4sBBHIdII")  # everything up to (not including) the header CRC
HEADER_BYTES: Final = HEADER.size + 4
#: smallest and largest accepted quantisation step, metres
MIN_STEP_M: Final = 1e-6
MAX_STEP_M: Final = 10.0
#: zstd decoding window cap (bytes); zstd levels up to 22 use windows of at most 2**27 bytes
MAX_WINDOW_BYTES: Final = 1 << 27


class FrameEncoding(enum.IntEnum):
    """How the points are stored; values equal proto ``PointCloud.Encoding``."""

    LOSSLESS = 1
    QUANTIZED = 2


@dataclass(frozen=True)
class FrameHeader:
    """The decoded header of an encoded frame (read without decompressing the payload)."""

    version: int
    encoding: FrameEncoding
    num_points: int
    quantization_step_m: float  # metres; 0.0 for lossless frames
    payload_bytes: int  # length of the zstd frame after the header
    content_crc32: int  # CRC32 of the decoded float32 (N, 4) little-endian bytes


def _bytes_per_point(encoding: FrameEncoding) -> int:
    return 16 if encoding is FrameEncoding.LOSSLESS else 13


def _check_step(step: float, source: str) -> None:
    if not (math.isfinite(step) and MIN_STEP_M <= step <= MAX_STEP_M):
        raise FormatError(
            f"{source}: quantization step {step!r} m is outside [{MIN_STEP_M}, {MAX_STEP_M}] m"
        )


def _byte_planes(words: npt.NDArray[np.float32]) -> bytes:
    """Split an (N, C) array of 4-byte little-endian words into 4*C byte planes."""
    n = words.shape[0]
    as_bytes = np.ascontiguousarray(words).view(np.uint8).reshape(n, 4 * words.shape[1])
    return np.ascontiguousarray(as_bytes.T).tobytes()


def _quantize(
    points: npt.NDArray[np.float32], step: float, source: str
) -> tuple[bytes, npt.NDArray[np.float32]]:
    """The quantized body and the points a decoder will return; refuses unrepresentable values."""
    n = points.shape[0]
    planes = np.empty((13, n), dtype=np.uint8)
    decoded = np.empty((n, 4), dtype=np.float32)
    bad = int(quantize_into(points, step, planes, decoded))
    if bad >= 0:
        row, col = divmod(bad, 4)
        value = float(points[row, col])
        if col == 3:
            raise FormatError(
                f"{source}: point {row} intensity {value!r} is outside [0, 1]; "
                f"quantized frames store intensity in 8 bits over [0, 1]"
            )
        raise FormatError(
            f"{source}: point {row} coordinate {'xyz'[col]}={value!r} m is outside the "
            f"representable range +-{MAX_GRID_INDEX * step:.6g} m for step {step!r} m"
        )
    return planes.tobytes(), decoded


def _crc32(points: npt.NDArray[np.float32]) -> int:
    return zlib.crc32(np.ascontiguousarray(points, dtype="<f4").data) & 0xFFFFFFFF


def encode_frame(
    points: npt.NDArray[np.float32],
    *,
    quantization_step_m: float | None = None,
    level: int = 3,
    source: str = "frame",
) -> bytes:
    """Encode float32 ``(N, 4)`` points (x, y, z in metres, intensity in [0, 1]) for transport.

    Without ``quantization_step_m`` the frame is lossless: decoding returns the same float32 bits.

    With a step (metres, in [1e-6, 10]) x, y and z are snapped to a grid of that step and
    intensity to 8 bits. Bounds on ``|decoded - original|``:

    * x, y, z: ``step / 2`` for the grid value (up to float64 rounding, < 1e-12 m), plus the
      rounding of the decoded value to float32: half a float32 ulp at the coordinate, <= 1.9e-6 m
      below 64 m, <= 3.8e-6 m below 128 m, <= 7.6e-6 m below 256 m. When the step is a power of
      two (e.g. ``2**-10`` m) and ``|v| / step < 2**24`` every step is exact and the bound is
      exactly ``step / 2``.
    * intensity: ``1 / 510``, plus half a float32 ulp below 1 (3e-8).

    Coordinates whose grid index exceeds ``2**31 - 1`` (``|v| > 2147 m`` at a 1 mm step) and
    intensities outside [0, 1] are refused with FormatError; so are non-finite points.
    ``level`` is the zstd level (1..22). ``source`` names the frame in error messages.
    """
    points = validate_points(np.asarray(points), source)
    n = points.shape[0]
    if n > 0xFFFFFFFF:
        raise FormatError(f"{source}: {n} points do not fit the 32-bit point count")
    if quantization_step_m is None:
        encoding, step = FrameEncoding.LOSSLESS, 0.0
        body = _byte_planes(points.astype("<f4", copy=False))
        crc = _crc32(points)
    else:
        step = float(quantization_step_m)
        _check_step(step, source)
        encoding = FrameEncoding.QUANTIZED
        body, decoded = _quantize(points, step, source)
        crc = _crc32(decoded)
    compressor = zstandard.ZstdCompressor(level=level, write_content_size=True)
    payload = compressor.compress(body)
    if len(payload) > 0xFFFFFFFF:
        raise FormatError(f"{source}: compressed payload of {len(payload)} bytes exceeds 4 GiB")
    head = HEADER.pack(MAGIC, VERSION, int(encoding), 0, n, step, len(payload), crc)
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def peek_header(data: bytes, *, source: str = "frame") -> FrameHeader:
    """Read and validate the header of an encoded frame without touching the payload.

    Raises FormatError on a short buffer, wrong magic, unsupported version or encoding,
    non-zero flags, a header CRC mismatch, a bad step, or a length that disagrees with the buffer.
    """
    if len(data) < HEADER_BYTES:
        raise FormatError(
            f"{source}: {len(data)} bytes is shorter than the {HEADER_BYTES}-byte frame header"
        )
    magic, version, encoding, flags, n, step, payload_bytes, crc = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise FormatError(f"{source}: bad magic {magic!r}, expected {MAGIC!r} (not a frame)")
    if version != VERSION:
        raise FormatError(f"{source}: unsupported frame version {version}, this reader has 1")
    (header_crc,) = struct.unpack_from("<I", data, HEADER.size)
    actual_crc = zlib.crc32(data[: HEADER.size])
    if header_crc != actual_crc:
        raise FormatError(
            f"{source}: header CRC mismatch (stored {header_crc:#010x}, computed {actual_crc:#010x})"
        )
    if encoding not in (1, 2):
        raise FormatError(f"{source}: unsupported encoding {encoding} (1 lossless, 2 quantized)")
    if flags != 0:
        raise FormatError(f"{source}: unknown header flags {flags:#06x}")
    kind = FrameEncoding(encoding)
    if kind is FrameEncoding.QUANTIZED:
        _check_step(step, source)
    elif step != 0.0:
        raise FormatError(f"{source}: lossless frame carries a quantization step {step!r}")
    if len(data) != HEADER_BYTES + payload_bytes:
        raise FormatError(
            f"{source}: header says {payload_bytes} payload bytes but {len(data) - HEADER_BYTES} "
            f"follow the header (truncated or padded frame)"
        )
    return FrameHeader(version, kind, n, step, payload_bytes, crc)


def _decompress(payload: memoryview, expected: int, source: str) -> bytes:
    """Decompress one zstd frame whose declared size must be exactly ``expected`` bytes."""
    try:
        declared = zstandard.frame_content_size(payload)
    except zstandard.ZstdError as exc:
        raise FormatError(f"{source}: payload is not a zstd frame: {exc}") from exc
    if declared != expected:
        # Checked before decompressing, so a forged size never drives an allocation.
        raise FormatError(
            f"{source}: zstd frame declares {declared} bytes, the header implies {expected}"
        )
    reader = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW_BYTES).decompressobj()
    try:
        raw = reader.decompress(payload)
    except zstandard.ZstdError as exc:
        raise FormatError(f"{source}: corrupt zstd payload: {exc}") from exc
    if not reader.eof or reader.unused_data or len(raw) != expected:
        raise FormatError(
            f"{source}: zstd payload decoded to {len(raw)} of {expected} bytes "
            f"(complete={reader.eof}, {len(reader.unused_data)} trailing bytes)"
        )
    return raw


def decode_frame(
    data: bytes, *, max_points: int = 2_000_000, source: str = "frame"
) -> npt.NDArray[np.float32]:
    """Decode a frame made by ``encode_frame`` into float32 ``(N, 4)`` points.

    Refuses (FormatError) wrong magic, an unsupported version, truncated data, a point count
    above ``max_points`` (checked before any allocation), a zstd frame whose size disagrees with
    the header, a checksum mismatch and non-finite values.
    """
    header = peek_header(data, source=source)
    if header.num_points > max_points:
        raise FormatError(
            f"{source}: header claims {header.num_points} points, above the limit of {max_points}"
        )
    n = header.num_points
    raw = _decompress(
        memoryview(data)[HEADER_BYTES:], n * _bytes_per_point(header.encoding), source
    )
    if header.encoding is FrameEncoding.LOSSLESS:
        planes = np.frombuffer(raw, dtype=np.uint8).reshape(16, n)
        points = np.ascontiguousarray(planes.T).view("<f4").astype(np.float32, copy=False)
    else:
        points = np.empty((n, 4), dtype=np.float32)
        dequantize_into(np.frombuffer(raw, dtype=np.uint8), header.quantization_step_m, points)
    crc = _crc32(points)
    if crc != header.content_crc32:
        raise FormatError(
            f"{source}: content CRC mismatch (stored {header.content_crc32:#010x}, "
            f"decoded {crc:#010x})"
        )
    return validate_points(points.reshape(n, 4), source)
