"""LZF (PCD binary_compressed): round trip, liblzf stream rules and refusal of corrupt streams.

Compatibility with liblzf itself is checked in test_pcd.py on a file written by Open3D.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import FormatError
from core.formats._lzf import lzf_compress, lzf_decompress


@given(
    st.binary(max_size=3000) | st.lists(st.sampled_from([b"ab", b"\0\0\0", b"xyz1"])).map(b"".join)
)
@settings(max_examples=150, deadline=None)
def test_lzf_round_trip(data: bytes) -> None:
    assert lzf_decompress(lzf_compress(data), len(data), "t") == data


def test_lzf_compresses_repetitive_data() -> None:
    data = bytes(100_000)
    assert len(lzf_compress(data)) < 1500


@pytest.mark.parametrize(
    ("stream", "size", "message"),
    [
        (b"\x05abc", 6, "truncated"),  # literal run of 6 with 3 bytes
        (b"\x00a\x20", 3, "truncated"),  # back reference without its offset byte
        (b"\x00a\x20\x05", 4, "before the start"),  # offset beyond the output so far
        (b"\x02abc", 2, "beyond the declared 2"),
        (b"\x00a", 2, "expands to 1 bytes"),
    ],
)
def test_lzf_refuses_corrupt_streams(stream: bytes, size: int, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        lzf_decompress(stream, size, "t.pcd")


def test_lzf_refuses_impossible_expansion_before_allocating() -> None:
    with pytest.raises(FormatError, match="4 bytes of LZF data cannot expand to the declared"):
        lzf_decompress(b"\x00a\xe0\xff", 10**12, "big.pcd")


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (b"\x01ab\x20\x01", b"ababa"),  # short match: length 1 + 2, offset 1 + 1 back
        (b"\x00a\xe0\x00\x00", b"a" * 10),  # long match: 7 + 0 + 2 bytes, overlapping copy
        (b"\x00x" + b"\x00y", b"xy"),  # two literal runs
    ],
)
def test_lzf_known_streams(stream: bytes, expected: bytes) -> None:
    assert lzf_decompress(stream, len(expected), "t") == expected
