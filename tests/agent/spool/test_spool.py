from __future__ import annotations

from pathlib import Path

from agent.spool.record import encode_record
from agent.spool.spool import Spool
from tests.agent.spool.helpers import make_record

RECORD_BYTES = len(encode_record(make_record(size=1000)))


def test_put_checkout_ack(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path, 10**6)
    low, high = make_record(1.0), make_record(5.0)
    assert spool.put(low).stored
    assert spool.put(high).stored
    assert spool.put(high).reason == "duplicate"
    assert spool.frames == 2
    assert spool.bytes == 2 * RECORD_BYTES
    first = spool.checkout()
    assert first is not None and first.frame_id == high.frame_id
    second = spool.checkout()
    assert second is not None and second.frame_id == low.frame_id
    assert spool.checkout() is None  # both in flight
    spool.release(low.frame_id)
    spool.ack(high.frame_id)
    assert spool.frame_ids() == {low.frame_id}
    assert not (tmp_path / "frames" / f"{high.frame_id}.ltf").exists()


def test_equal_priorities_go_oldest_first(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path, 10**6)
    records = [make_record(1.0) for _ in range(5)]
    for r in records:
        spool.put(r)
    order = []
    while (out := spool.checkout()) is not None:
        order.append(out.frame_id)
        spool.ack(out.frame_id)
    assert order == [r.frame_id for r in records]


def test_reopen_recovers_frames_and_removes_temp_files(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path, 10**6)
    records = [make_record(float(i)) for i in range(3)]
    for r in records:
        spool.put(r)
    (tmp_path / "frames" / ".abc.ltf.x1y2.tmp").write_bytes(b"half a frame")
    again = Spool.open(tmp_path, 10**6)
    assert again.frame_ids() == {r.frame_id for r in records}
    assert again.recovery.recovered == 3
    assert again.recovery.temp_files_removed == 1
    assert not list((tmp_path / "frames").glob("*.tmp"))
    top = again.checkout()
    assert top is not None and top.frame_id == records[2].frame_id


def test_corrupt_files_are_quarantined_on_open_and_on_checkout(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path, 10**6)
    a, b, c = make_record(1.0), make_record(2.0), make_record(3.0)
    for r in (a, b, c):
        spool.put(r)
    path_a = tmp_path / "frames" / f"{a.frame_id}.ltf"
    path_a.write_bytes(path_a.read_bytes()[:-5])  # truncated behind our back
    again = Spool.open(tmp_path, 10**6)
    assert again.recovery.quarantined == (path_a.name,)
    assert again.frame_ids() == {b.frame_id, c.frame_id}
    assert (tmp_path / "quarantine" / path_a.name).exists()
    assert "truncated" in (tmp_path / "quarantine" / f"{path_a.name}.reason").read_text()
    # bit rot after recovery: found when the uploader reads it, and skipped
    path_c = tmp_path / "frames" / f"{c.frame_id}.ltf"
    data = bytearray(path_c.read_bytes())
    data[50] ^= 0xFF
    path_c.write_bytes(bytes(data))
    got = again.checkout()
    assert got is not None and got.frame_id == b.frame_id
    assert again.quarantined_total == 2  # one on open, one on checkout
    assert again.frame_ids() == {b.frame_id}


def test_full_spool_evicts_lowest_priority_never_the_one_in_flight(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path, 3 * RECORD_BYTES)
    r1, r2, r3 = make_record(1.0), make_record(2.0), make_record(3.0)
    for r in (r1, r2, r3):
        assert spool.put(r).stored
    in_flight = spool.checkout()
    assert in_flight is not None and in_flight.frame_id == r3.frame_id
    spool.release(r3.frame_id)
    # take r1 out for upload: the lowest, but it must survive
    spool._in_flight.add(r1.frame_id)
    r4 = make_record(4.0)
    result = spool.put(r4)
    assert result.stored and result.evicted == (r2.frame_id,)
    assert spool.frame_ids() == {r1.frame_id, r3.frame_id, r4.frame_id}
    # a newcomer below everything evictable is the one dropped
    r0 = make_record(0.5)
    assert spool.put(r0).reason == "full"
    assert spool.evicted_total == 2
    assert spool.bytes <= spool.max_bytes


def test_quarantine_moves_a_refused_frame_aside(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path, 10**6)
    r = make_record()
    spool.put(r)
    assert spool.checkout() is not None
    spool.quarantine(r.frame_id, "refused by backend: INVALID_ARGUMENT")
    assert spool.frames == 0 and spool.bytes == 0
    assert "INVALID_ARGUMENT" in (tmp_path / "quarantine" / f"{r.frame_id}.ltf.reason").read_text()
