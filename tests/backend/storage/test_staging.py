"""The staging area: offsets, resume, truncation to a re-sent offset, sweep of old files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backend.errors import StorageError
from backend.storage.staging import StagingArea

FRAME = "f" * 64


def test_appends_continue_at_the_committed_offset(tmp_path: Path) -> None:
    staging = StagingArea(tmp_path)
    assert staging.committed("car", FRAME) == 0
    with staging.open_writer("car", FRAME, 0) as writer:
        writer.write(b"abc")
    assert staging.committed("car", FRAME) == 3
    with staging.open_writer("car", FRAME, 3) as writer:
        writer.write(b"def")
        assert writer.position == 6
    assert staging.read("car", FRAME) == b"abcdef"


def test_a_resend_from_an_earlier_offset_cuts_the_file_there(tmp_path: Path) -> None:
    staging = StagingArea(tmp_path)
    with staging.open_writer("car", FRAME, 0) as writer:
        writer.write(b"abcdef")
    with staging.open_writer("car", FRAME, 2) as writer:
        writer.write(b"XY")
    assert staging.read("car", FRAME) == b"abXY"


def test_a_gap_is_refused_with_both_offsets_named(tmp_path: Path) -> None:
    staging = StagingArea(tmp_path)
    with pytest.raises(StorageError, match=r"offset 5 .* past the 0 staged bytes"):
        staging.open_writer("car", FRAME, 5)


def test_vehicles_have_separate_staging_for_the_same_frame(tmp_path: Path) -> None:
    staging = StagingArea(tmp_path)
    with staging.open_writer("car-1", FRAME, 0) as writer:
        writer.write(b"one")
    assert staging.committed("car-2", FRAME) == 0
    staging.discard("car-1", FRAME)
    assert staging.committed("car-1", FRAME) == 0


@pytest.mark.parametrize("frame_id", ["../../etc/passwd", "F" * 64, "a" * 63])
def test_frame_ids_that_are_not_sha256_hex_are_refused(tmp_path: Path, frame_id: str) -> None:
    with pytest.raises(StorageError, match="invalid frame id"):
        StagingArea(tmp_path).path("car", frame_id)


def test_sweep_removes_only_old_files(tmp_path: Path) -> None:
    staging = StagingArea(tmp_path)
    for vehicle in ("old", "new"):
        with staging.open_writer(vehicle, FRAME, 0) as writer:
            writer.write(b"x")
    old = staging.path("old", FRAME)
    os.utime(old, (1000.0, 1000.0))
    assert staging.sweep(max_age_s=3600) == 1
    assert not old.exists()
    assert staging.committed("new", FRAME) == 1
