"""An upload -- a partial stream, a resume, the SHA-256 check, blob put, row commit, staging
discard -- at every crash point of the server, for a process crash and a power loss
(tests/fixtures/crash): never a row without its whole blob, never a torn blob, and the offset
acknowledged to the client is still staged until the frame is stored."""

from __future__ import annotations

from pathlib import Path

from backend.storage.staging import StagingArea
from tests.backend.ingest.recorded_backend import (
    blob_holds,
    channel_to,
    recorded_backend,
    row_mark,
)
from tests.backend.ingest.upload_client import IngestTestClient, Status, chunks, make_frame
from tests.fixtures.crash import CrashKind, CrashRecorder, CrashState, check_every_crash
from tests.fixtures.crash.model import Mark


def test_upload_and_commit_at_every_crash_point(tmp_path: Path) -> None:
    root = tmp_path / "data"
    frame = make_frame("car-1", num_points=3000, seed=60)
    payload, frame_id = frame.payload, frame.frame_id
    with recorded_backend(root, tmp_path / "db") as running, channel_to(running) as channel:
        client = IngestTestClient(channel, running.token)
        with CrashRecorder(root) as recorder:
            running.recorder = recorder
            ack = client.send(chunks(frame, chunk_bytes=4096, stop_at=16_384))
            assert ack.status == Status.STATUS_PARTIAL
            recorder.mark(f"partial {ack.committed_offset}")
            assert client.upload(frame, chunk_bytes=4096).status == Status.STATUS_STORED
            recorder.mark("stored")
            running.recorder = None

    def check(state: CrashState) -> None:
        in_blob = blob_holds(state, state.root / "blobs", frame_id, payload)
        if state.happened(row_mark(frame_id)):
            assert in_blob, "a committed row whose blob did not survive"
            return
        staging = StagingArea(state.root / "staging")
        committed = staging.committed("car-1", frame_id)
        data = staging.read("car-1", frame_id) if committed else b""
        acked = 16_384 if state.happened("partial 16384") else 0
        assert committed >= acked, f"{acked} bytes acknowledged, {committed} staged"
        assert data[:acked] == payload[:acked]
        if state.kind is not CrashKind.POWER_ZERO:
            assert data == payload[:committed], "staged bytes are not the payload's prefix"

    report = check_every_crash(recorder.trace, check, tmp_path / "states")
    assert Mark(row_mark(frame_id)) in recorder.trace.ops
    print(report.describe())
    assert report.calls >= 30
