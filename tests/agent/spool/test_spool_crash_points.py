"""The spool at every crash point of put, ack, eviction and recovery, for a process crash and for
a power loss (tests/fixtures/crash): no torn record is ever recovered, a put that returned
survives, an acked or evicted frame never comes back."""

from __future__ import annotations

from pathlib import Path

from agent.spool.record import SpoolRecord, encode_record
from agent.spool.spool import Spool
from tests.agent.spool.helpers import make_record
from tests.fixtures.crash import CrashRecorder, CrashState, check_every_crash

BIG = 10**9


def _records(n: int, priority: float = 1.0, first_seed: int = 1) -> list[SpoolRecord]:
    return [make_record(priority, size=2000, seed=first_seed + i) for i in range(n)]


def _recovered(state: CrashState) -> dict[str, SpoolRecord]:
    """Open the crashed spool; every record it keeps, read back; fails on a torn record."""
    spool = Spool.open(state.root, BIG)
    assert spool.recovery.quarantined == (), "a torn record was found"
    out: dict[str, SpoolRecord] = {}
    while (record := spool.checkout()) is not None:
        out[record.frame_id] = record
    assert spool.quarantined_total == 0
    return out


def test_put_into_a_new_spool(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    root.mkdir()
    records = _records(3)
    with CrashRecorder(root) as recorder:
        spool = Spool.open(root, BIG)
        for r in records:
            assert spool.put(r).stored
            recorder.mark(f"stored {r.frame_id}")

    def check(state: CrashState) -> None:
        got = _recovered(state)
        assert set(got) <= {r.frame_id for r in records}
        for r in records:
            if state.happened(f"stored {r.frame_id}"):
                assert r.frame_id in got, "a put that returned was lost"
            if r.frame_id in got:
                assert encode_record(got[r.frame_id]) == encode_record(r)

    report = check_every_crash(recorder.trace, check, tmp_path / "states")
    assert report.calls >= 3 * 9


def _filled(root: Path, records: list[SpoolRecord], max_bytes: int = BIG) -> None:
    spool = Spool.open(root, max_bytes)
    for r in records:
        assert spool.put(r).stored


def test_ack(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    low, high = make_record(1.0, 2000, seed=1), make_record(5.0, 2000, seed=2)
    _filled(root, [low, high])
    with CrashRecorder(root) as recorder:
        spool = Spool.open(root, BIG)
        out = spool.checkout()
        assert out is not None and out.frame_id == high.frame_id
        spool.ack(high.frame_id)
        recorder.mark("acked")

    def check(state: CrashState) -> None:
        got = _recovered(state)
        assert low.frame_id in got
        if state.happened("acked"):
            assert high.frame_id not in got, "an acked frame came back"

    report = check_every_crash(recorder.trace, check, tmp_path / "states")
    assert report.calls >= 4  # unlink and the directory fsync


def test_eviction_of_a_lower_priority_frame(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    old = _records(3, priority=1.0)
    size = len(encode_record(old[0]))
    _filled(root, old, max_bytes=3 * size)
    newcomer = make_record(9.0, 2000, seed=99)
    with CrashRecorder(root) as recorder:
        spool = Spool.open(root, 3 * size)
        result = spool.put(newcomer)
        assert result.stored and result.evicted == (old[0].frame_id,)
        recorder.mark("stored")

    def check(state: CrashState) -> None:
        got = _recovered(state)
        assert {r.frame_id for r in old[1:]} <= set(got)
        if state.happened("stored"):
            assert newcomer.frame_id in got and old[0].frame_id not in got
        assert len(got) <= 3

    check_every_crash(recorder.trace, check, tmp_path / "states")


def test_recovery_of_a_crashed_spool(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    good = _records(2)
    torn = make_record(3.0, 2000, seed=50)
    _filled(root, [*good, torn])
    torn_path = root / "frames" / f"{torn.frame_id}.ltf"
    torn_path.write_bytes(torn_path.read_bytes()[:-100])
    (root / "frames" / f".{good[0].frame_id}.ltf.abc.tmp").write_bytes(b"half a record")
    with CrashRecorder(root) as recorder:
        spool = Spool.open(root, BIG)
        assert spool.recovery.quarantined == (torn_path.name,)
        recorder.mark("opened")

    def check(state: CrashState) -> None:
        spool = Spool.open(state.root, BIG)
        assert spool.frame_ids() == {r.frame_id for r in good}
        assert spool.recovery.quarantined in ((), (torn_path.name,))
        if state.happened("opened"):
            reason = state.root / "quarantine" / f"{torn_path.name}.reason"
            assert "truncated" in reason.read_text(), "the quarantine reason was lost"
            assert (state.root / "quarantine" / torn_path.name).exists()

    report = check_every_crash(recorder.trace, check, tmp_path / "states")
    assert report.calls >= 6
