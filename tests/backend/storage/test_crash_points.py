"""The local blob store and the staging area at every crash point (tests/fixtures/crash), for a
process crash and a power loss: an object is absent or whole, a put or delete that returned is
durable, and staged bytes are the payload's prefix, at least as long as the last offset
acknowledged to the client."""

from __future__ import annotations

import hashlib
from pathlib import Path

from backend.storage.local import LocalBlobStore
from backend.storage.staging import StagingArea
from tests.fixtures.crash import CrashKind, CrashRecorder, CrashState, check_every_crash

V1, V2, OTHER = b"first version " * 200, b"second, longer version " * 200, b"other" * 300


def test_local_blob_put_replace_and_delete(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    root.mkdir()
    with CrashRecorder(root) as recorder:
        store = LocalBlobStore(root)
        store.put("frames/a", V1)
        recorder.mark("put a v1")
        store.put("frames/a", V2)
        recorder.mark("put a v2")
        store.put("frames/b", OTHER)
        recorder.mark("put b")
        store.delete("frames/a")
        recorder.mark("deleted a")

    def check(state: CrashState) -> None:
        store = LocalBlobStore(state.root)
        listed = {info.key for info in store.list()}
        assert listed == {k for k in ("frames/a", "frames/b") if store.exists(k)}
        a = store.get("frames/a") if "frames/a" in listed else None
        if state.happened("deleted a"):
            assert a is None, "a delete that returned was undone"
        elif state.happened("put b"):  # the delete is under way
            assert a in (V2, None)
        elif state.happened("put a v2"):
            assert a == V2
        elif state.happened("put a v1"):
            assert a in (V1, V2)
        else:
            assert a in (None, V1)
        if state.happened("put b") or "frames/b" in listed:
            assert store.get("frames/b") == OTHER

    report = check_every_crash(recorder.trace, check, tmp_path / "states")
    assert report.calls >= 30


FRAME = hashlib.sha256(b"frame").hexdigest()
PAYLOAD = bytes(range(251)) * 120  # 30120 bytes, no run of zeros


def test_staging_append_resume_resend_and_discard(tmp_path: Path) -> None:
    root = tmp_path / "staging"
    root.mkdir()
    streams = [(0, 10_000), (10_000, 20_000), (15_000, len(PAYLOAD))]  # the last re-sends 5000
    with CrashRecorder(root) as recorder:
        staging = StagingArea(root)
        for start, end in streams:
            recorder.mark(f"stream from {start}")  # a re-send gives up what lies beyond ``start``
            with staging.open_writer("car/1", FRAME, start) as writer:
                for offset in range(start, end, 2000):
                    writer.write(PAYLOAD[offset : min(offset + 2000, end)])
            recorder.mark(f"acknowledged {end}")  # the PARTIAL ack's committed_offset
        assert staging.read("car/1", FRAME) == PAYLOAD
        recorder.mark("discarding")  # stored in the blob store: the staged copy is of no use
        staging.discard("car/1", FRAME)
        recorder.mark("discarded")

    def check(state: CrashState) -> None:
        staging = StagingArea(state.root)
        committed = staging.committed("car/1", FRAME)
        data = staging.read("car/1", FRAME) if committed else b""
        acked = 0
        for mark in state.marks:
            kind, _, value = mark.rpartition(" ")
            if kind == "acknowledged":
                acked = int(value)
            elif kind == "stream from":
                acked = min(acked, int(value))
        if state.happened("discarding"):  # gone, or (power loss) back whole: never torn
            assert data in (b"", PAYLOAD)
            assert committed == 0 or not state.happened("discarded") or state.power_loss
            return
        assert committed >= acked, f"acknowledged {acked} bytes, {committed} survived"
        assert data[:acked] == PAYLOAD[:acked]
        if state.kind is not CrashKind.POWER_ZERO:  # zeroed unsynced bytes fail the SHA-256 later
            assert data == PAYLOAD[:committed], "staged bytes are not the payload's prefix"

    report = check_every_crash(recorder.trace, check, tmp_path / "states")
    assert report.calls >= 25
