"""The frame codec: bit-exact lossless, bounded lossy error, and refusal of every bad payload."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import FormatError
from core.formats.codec import (
    HEADER,
    HEADER_BYTES,
    FrameEncoding,
    decode_frame,
    encode_frame,
    peek_header,
)
from longtail.v1 import frame_pb2
from tests.core.formats.strategies import point_clouds

DATA = Path(__file__).parent / "data"


def golden_points() -> npt.NDArray[np.float32]:
    """The frame inside ``data/frame_*_v1.ltpc`` (written by the version-1 encoder)."""
    i = np.arange(200, dtype=np.float64)
    columns = [50 * np.cos(i / 30) + 0.0123 * i, -20 + 0.37 * i, np.sin(i) * 2 - 1.7, (i % 17) / 16]
    return np.stack(columns, axis=1).astype(np.float32)


def lidar_like(n: int = 5000, seed: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    azimuth = np.linspace(-np.pi, np.pi, n)
    rng_m = rng.uniform(2.0, 120.0, n)
    pts = np.stack(
        [
            rng_m * np.cos(azimuth),
            rng_m * np.sin(azimuth),
            rng.uniform(-2, 2, n),
            rng.uniform(0, 1, n),
        ],
        axis=1,
    )
    return pts.astype(np.float32)


def float32_half_ulp(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    half: npt.NDArray[np.float64] = np.spacing(np.abs(values)).astype(np.float64) / 2.0
    return half


def reheader(data: bytes, **fields: int | float | bytes) -> bytes:
    """Rewrite header fields and fix the header CRC, so only the field under test is wrong."""
    names = ("magic", "version", "encoding", "flags", "n", "step", "payload", "crc")
    values = dict(zip(names, HEADER.unpack_from(data), strict=True))
    values.update(fields)
    head = HEADER.pack(*(values[k] for k in names))
    return head + struct.pack("<I", zlib.crc32(head)) + data[HEADER_BYTES:]


@given(point_clouds())
@settings(max_examples=60, deadline=None)
def test_lossless_round_trip_is_bit_exact(points: npt.NDArray[np.float32]) -> None:
    decoded = decode_frame(encode_frame(points))
    assert decoded.dtype == np.float32 and decoded.shape == points.shape
    assert np.array_equal(decoded.view(np.uint32), points.view(np.uint32))


def test_lossless_keeps_negative_zero_and_extremes() -> None:
    big = np.finfo(np.float32).max
    points = np.array([[-0.0, big, -big, 0.0], [1e-45, -1e-45, 3.0, 1.0]], dtype=np.float32)
    decoded = decode_frame(encode_frame(points))
    assert np.array_equal(decoded.view(np.uint32), points.view(np.uint32))


@given(point_clouds(), st.sampled_from([0.001, 0.005, 0.01, 0.02, 0.1, 0.37]))
@settings(max_examples=60, deadline=None)
def test_quantized_error_is_within_the_stated_bound(
    points: npt.NDArray[np.float32], step: float
) -> None:
    decoded = decode_frame(encode_frame(points, quantization_step_m=step))
    error = np.abs(decoded.astype(np.float64) - points.astype(np.float64))
    # step/2 on the grid plus half a float32 ulp for the float32 output (docstring bound)
    assert (error[:, :3] <= step / 2 + float32_half_ulp(decoded[:, :3]) + 1e-12).all()
    assert (error[:, 3] <= 1 / 510 + float32_half_ulp(decoded[:, 3]) + 1e-12).all()


@given(point_clouds(), st.integers(4, 12))
@settings(max_examples=40, deadline=None)
def test_power_of_two_steps_meet_half_a_step_exactly(
    points: npt.NDArray[np.float32], exponent: int
) -> None:
    step = 2.0**-exponent
    decoded = decode_frame(encode_frame(points, quantization_step_m=step))
    error = np.abs(decoded.astype(np.float64) - points.astype(np.float64))
    assert (error[:, :3] <= step / 2).all()


def test_far_points_at_sensor_range_keep_the_bound() -> None:
    step = 0.001
    # coordinates just off grid midpoints at 200-250 m, the worst case for float32 rounding
    base = np.arange(200.0, 250.0, 0.0731)
    xyz = np.stack([base + step * 0.4999, -base - step * 0.5001, base / 10], axis=1)
    points = np.hstack([xyz, np.full((len(base), 1), 0.5)]).astype(np.float32)
    decoded = decode_frame(encode_frame(points, quantization_step_m=step))
    error = np.abs(decoded.astype(np.float64) - points.astype(np.float64))[:, :3]
    assert (error <= step / 2 + float32_half_ulp(decoded[:, :3])).all()
    assert error.max() > step / 4  # the test really exercises near-half-step errors


def test_out_of_range_coordinates_are_refused_with_the_value() -> None:
    points = np.array([[0, 0, 0, 0], [3.0e6, 0, 0, 0]], dtype=np.float32)
    with pytest.raises(
        FormatError, match=r"point 1 coordinate x=3000000\.0 m .*representable range"
    ):
        encode_frame(points, quantization_step_m=0.001)
    assert decode_frame(encode_frame(points, quantization_step_m=0.01))[1, 0] == 3.0e6


@pytest.mark.parametrize("intensity", [-0.1, 1.5])
def test_quantized_refuses_intensity_outside_unit_range(intensity: float) -> None:
    points = np.array([[0, 0, 0, intensity]], dtype=np.float32)
    with pytest.raises(FormatError, match="intensity"):
        encode_frame(points, quantization_step_m=0.01)


@pytest.mark.parametrize("step", [0.0, -0.01, 1e-9, 11.0, float("nan"), float("inf")])
def test_bad_steps_are_refused(step: float) -> None:
    with pytest.raises(FormatError, match="quantization step"):
        encode_frame(lidar_like(10), quantization_step_m=step)


def test_non_finite_and_misshaped_input_is_refused() -> None:
    points = lidar_like(10)
    points[3, 1] = np.nan
    with pytest.raises(FormatError, match="non-finite"):
        encode_frame(points)
    with pytest.raises(FormatError, match="shape"):
        encode_frame(np.zeros((5, 3), dtype=np.float32))


def test_peek_header_reports_encoding_count_and_step() -> None:
    points = lidar_like(321)
    header = peek_header(encode_frame(points, quantization_step_m=0.02))
    assert header.encoding is FrameEncoding.QUANTIZED
    assert (header.num_points, header.quantization_step_m, header.version) == (321, 0.02, 1)
    lossless = peek_header(encode_frame(points))
    assert lossless.encoding is FrameEncoding.LOSSLESS and lossless.quantization_step_m == 0.0


def test_encoding_values_match_the_wire_contract() -> None:
    assert int(FrameEncoding.LOSSLESS) == int(frame_pb2.PointCloud.ENCODING_LOSSLESS)
    assert int(FrameEncoding.QUANTIZED) == int(frame_pb2.PointCloud.ENCODING_QUANTIZED)


def test_encoding_is_deterministic_and_compresses_lidar_frames() -> None:
    points = lidar_like()
    assert encode_frame(points) == encode_frame(points)
    assert len(encode_frame(points)) < points.nbytes
    assert len(encode_frame(points, quantization_step_m=0.01)) < len(encode_frame(points))


def test_wrong_magic_version_flags_and_encoding_are_refused() -> None:
    data = encode_frame(lidar_like(50))
    cases = {
        "bad magic": reheader(data, magic=b"XXXX"),
        "unsupported frame version 2": reheader(data, version=2),
        "unsupported encoding 3": reheader(data, encoding=3),
        "unknown header flags": reheader(data, flags=1),
        "lossless frame carries a quantization step": reheader(data, step=0.5),
    }
    for message, bad in cases.items():
        with pytest.raises(FormatError, match=message):
            decode_frame(bad, source="f.ltpc")


def test_header_corruption_is_caught_by_the_header_crc() -> None:
    data = bytearray(encode_frame(lidar_like(50)))
    data[9] ^= 0x01  # point count
    with pytest.raises(FormatError, match="header CRC mismatch"):
        peek_header(bytes(data))


def test_claimed_point_count_above_the_limit_is_refused_before_decoding() -> None:
    data = reheader(encode_frame(lidar_like(50)), n=0xFFFFFFFF)
    with pytest.raises(FormatError, match=r"claims 4294967295 points, above the limit of 2000000"):
        decode_frame(data)
    with pytest.raises(FormatError, match="above the limit of 10"):
        decode_frame(encode_frame(lidar_like(50)), max_points=10)


def test_zstd_bomb_with_a_lying_content_size_is_refused() -> None:
    # a tiny payload that expands to 16 MiB of zeros; the header claims 50 points
    bomb = zstandard.ZstdCompressor(level=19).compress(bytes(1 << 24))
    data = encode_frame(lidar_like(50))
    forged = reheader(data[:HEADER_BYTES] + bomb, payload=len(bomb))
    with pytest.raises(FormatError, match=r"declares 16777216 bytes, the header implies 800"):
        decode_frame(forged)


def test_zstd_frame_without_content_size_is_refused() -> None:
    body = bytes(800)
    chunks = zstandard.ZstdCompressor().compressobj()
    streamed = chunks.compress(body) + chunks.flush()
    forged = reheader(encode_frame(lidar_like(50))[:HEADER_BYTES] + streamed, payload=len(streamed))
    with pytest.raises(FormatError, match="declares -1 bytes"):
        decode_frame(forged)


def test_checksum_mismatch_is_refused() -> None:
    data = reheader(encode_frame(lidar_like(50)), crc=123)
    with pytest.raises(FormatError, match="content CRC mismatch"):
        decode_frame(data)


def test_truncated_and_padded_frames_are_refused() -> None:
    data = encode_frame(lidar_like(50))
    with pytest.raises(FormatError, match="shorter than the 32-byte frame header"):
        decode_frame(data[:20])
    with pytest.raises(FormatError, match="truncated or padded"):
        decode_frame(data[:-1])
    with pytest.raises(FormatError, match="truncated or padded"):
        decode_frame(data + b"\0")


@given(st.data())
@settings(max_examples=150, deadline=None)
def test_random_corruption_gives_format_error_or_the_original(data: st.DataObject) -> None:
    points = lidar_like(200, seed=1)
    step = data.draw(st.sampled_from([None, 0.01]))
    encoded = bytearray(encode_frame(points, quantization_step_m=step))
    mode = data.draw(st.sampled_from(["flip", "truncate", "splice"]))
    if mode == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            pos = data.draw(st.integers(0, len(encoded) - 1))
            encoded[pos] ^= data.draw(st.integers(1, 255))
    elif mode == "truncate":
        del encoded[data.draw(st.integers(0, len(encoded) - 1)) :]
    else:
        pos = data.draw(st.integers(0, len(encoded)))
        encoded[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
    try:
        decoded = decode_frame(bytes(encoded))
    except FormatError:
        return
    # a surviving frame must carry the original content (the CRC makes anything else refused)
    assert np.array_equal(decoded, decode_frame(encode_frame(points, quantization_step_m=step)))


def test_golden_version_1_frames_still_decode() -> None:
    points = golden_points()
    lossless = decode_frame((DATA / "frame_lossless_v1.ltpc").read_bytes())
    assert np.array_equal(lossless.view(np.uint32), points.view(np.uint32))
    quantized = decode_frame((DATA / "frame_quantized_5mm_v1.ltpc").read_bytes())
    # the format's definition: grid index rint(v / step), decoded as float32(index * step)
    grid = np.rint(points[:, :3].astype(np.float64) / 0.005) * 0.005
    levels = np.rint(points[:, 3].astype(np.float64) * 255) / 255
    assert np.array_equal(quantized, np.hstack([grid, levels[:, None]]).astype(np.float32))
