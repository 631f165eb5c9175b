"""The spool on a real full disk (a small tmpfs: ENOSPC comes from the kernel) and on a read-only
file system: each failure is a result, nothing is torn, no temp file is left behind."""

from __future__ import annotations

from agent.spool.spool import RecoveryReport, Spool
from tests.agent.spool.helpers import make_record
from tests.fixtures.mounts import SmallDisk, read_only, read_write

BIG = 10**9  # the spool's own budget is not the limit here: the disk is


def test_a_full_disk_is_a_put_result_and_leaves_nothing_torn(small_disk: SmallDisk) -> None:
    disk = small_disk(256 * 1024)
    spool = Spool.open(disk / "spool", BIG)
    records = [make_record(1.0, size=30_000, seed=i) for i in range(12)]  # 360 kB > the disk
    results = [spool.put(r) for r in records]
    stored = [r.frame_id for r, res in zip(records, results, strict=True) if res.stored]
    refused = [r for r, res in zip(records, results, strict=True) if not res.stored]
    assert 3 <= len(stored) < len(records)
    assert [res.reason for res in results if not res.stored] == [
        "disk: No space left on device"
    ] * len(refused)
    assert all(res.evicted == () for res in results)
    assert spool.frame_ids() == set(stored)
    assert [p.name for p in (disk / "spool" / "frames").iterdir() if p.suffix != ".ltf"] == []
    again = Spool.open(disk / "spool", BIG)
    assert again.recovery == RecoveryReport(len(stored), 0, ())
    # a delivered frame frees its space: the next one fits
    out = spool.checkout()
    assert out is not None
    spool.ack(out.frame_id)
    assert spool.put(refused[0]).stored


def test_a_read_only_disk_is_a_result_for_put_ack_and_open(small_disk: SmallDisk) -> None:
    disk = small_disk(1024 * 1024)
    spool = Spool.open(disk / "spool", BIG)
    kept, other, late = (make_record(float(i), size=5000, seed=100 + i) for i in range(3))
    assert spool.put(kept).stored and spool.put(other).stored
    (disk / "spool" / "frames" / ".x.ltf.abc.tmp").write_bytes(b"an interrupted write")
    read_only(disk)
    assert spool.put(late).reason == "disk: Read-only file system"
    out = spool.checkout()
    assert out is not None and out.frame_id == other.frame_id
    assert spool.ack(other.frame_id) is False  # delivered, but the file could not be removed
    assert spool.frame_ids() == {kept.frame_id}  # not sent again by this process
    reopened = Spool.open(disk / "spool", BIG)  # recovery cannot delete: it reports, not raises
    assert reopened.frame_ids() == {kept.frame_id, other.frame_id}
    assert reopened.recovery.temp_files_removed == 0
    read_write(disk)
    assert Spool.open(disk / "spool", BIG).recovery.temp_files_removed == 1
