from __future__ import annotations

import pytest

from agent.errors import SpoolError
from agent.spool.record import CorruptRecordError, SpoolRecord, decode_record, encode_record
from tests.agent.spool.helpers import make_record


def test_round_trip() -> None:
    record = make_record(priority=2.5, size=4096)
    back = decode_record(encode_record(record), "f")
    assert back.payload == record.payload
    assert back.metadata == record.metadata
    assert back.priority == 2.5


def test_refuses_a_frame_id_that_is_not_the_payload_hash() -> None:
    record = make_record()
    bad = SpoolRecord(record.metadata, record.payload + b"x")
    with pytest.raises(SpoolError, match="is not the SHA-256"):
        encode_record(bad)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:10], "shorter than the fixed header"),
        (lambda d: d[:-1], "truncated or extended"),
        (lambda d: d + b"\0", "truncated or extended"),
        (lambda d: b"XXXXXXXX" + d[8:], "bad magic"),
        (lambda d: d[:100] + bytes([d[100] ^ 1]) + d[101:], "checksum mismatch"),
        (lambda d: d[:-1] + bytes([d[-1] ^ 0x80]), "checksum mismatch"),
    ],
)
def test_every_defect_is_detected_and_named(mutate: object, message: str) -> None:
    data = encode_record(make_record())
    with pytest.raises(CorruptRecordError, match=message) as info:
        decode_record(mutate(data), "spool/x.ltf")  # type: ignore[operator]
    assert "spool/x.ltf" in str(info.value)


def test_every_single_bit_flip_in_the_header_is_caught() -> None:
    data = encode_record(make_record(size=64))
    for position in range(0, 20):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[position] ^= 1 << bit
            with pytest.raises(CorruptRecordError):
                decode_record(bytes(flipped), "f")
