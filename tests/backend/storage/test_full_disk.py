"""The local blob store and the staging area on a real full disk (a small tmpfs: ENOSPC comes from
the kernel where it really happens) and on a read-only file system: a retryable StorageError that
names the object and the kernel's reason, nothing half-written, and it works again once space is
freed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from backend.errors import StorageError
from backend.storage.local import LocalBlobStore
from backend.storage.staging import StagingArea
from tests.fixtures.mounts import SmallDisk, fill, read_only

BLOB = 40_000


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_a_full_blob_disk_refuses_the_put_that_does_not_fit(small_disk: SmallDisk) -> None:
    store = LocalBlobStore(small_disk(256 * 1024) / "blobs")
    data = {f"frames/{i}": bytes([i]) * BLOB for i in range(10)}  # 400 kB > the disk
    stored: list[str] = []
    with pytest.raises(StorageError) as info:
        for key, value in data.items():
            store.put(key, value)
            stored.append(key)
    key = f"frames/{len(stored)}"
    path = store._path(key)
    assert str(info.value) == (
        f"cannot write blob {key!r} ({BLOB} bytes) to {path}: [Errno 28] No space left on device"
    )
    assert info.value.retryable
    assert 3 <= len(stored) < len(data)
    assert sorted(i.key for i in store.list()) == sorted(stored)
    assert all(store.get(k) == data[k] for k in stored)
    assert len(_files(store.root)) == len(stored)  # no temp file, no partial object
    store.delete(stored[0])
    store.put(key, data[key])
    assert store.get(key) == data[key]


def test_a_read_only_blob_disk_refuses_writes_and_still_reads(small_disk: SmallDisk) -> None:
    disk = small_disk(256 * 1024)
    store = LocalBlobStore(disk / "blobs")
    store.put("frames/a", b"a" * 100)
    read_only(disk)
    with pytest.raises(
        StorageError,
        match=r"cannot write blob 'frames/b' \(3 bytes\) .*: \[Errno 30\] Read-only file system",
    ) as put:
        store.put("frames/b", b"bbb")
    with pytest.raises(
        StorageError, match=r"cannot delete blob 'frames/a' .*: \[Errno 30\] Read-only file system"
    ) as delete:
        store.delete("frames/a")
    assert put.value.retryable and delete.value.retryable
    assert store.get("frames/a") == b"a" * 100


FRAME = hashlib.sha256(b"staged").hexdigest()
PAYLOAD = bytes(range(251)) * 400  # 100 kB


def test_a_full_staging_disk_keeps_a_prefix_and_resumes_after_space_is_freed(
    small_disk: SmallDisk,
) -> None:
    disk = small_disk(256 * 1024)
    staging = StagingArea(disk / "staging")
    ballast = fill(disk, leave_bytes=48 * 1024)
    offset = 0
    with pytest.raises(StorageError) as info, staging.open_writer("car-1", FRAME, 0) as writer:
        for offset in range(0, len(PAYLOAD), 8000):
            writer.write(PAYLOAD[offset : offset + 8000])
    path = staging.path("car-1", FRAME)
    assert str(info.value) == (
        f"cannot stage 8000 bytes at offset {offset} in {path}: [Errno 28] No space left on device"
    )
    assert info.value.retryable
    committed = staging.committed("car-1", FRAME)
    assert 0 < committed < len(PAYLOAD)
    assert staging.read("car-1", FRAME) == PAYLOAD[:committed]  # a prefix, never garbage
    ballast.unlink()
    with staging.open_writer("car-1", FRAME, committed) as writer:
        writer.write(PAYLOAD[committed:])
    assert staging.read("car-1", FRAME) == PAYLOAD


def test_a_disk_that_fills_before_the_stream_ends_fails_the_final_flush(
    small_disk: SmallDisk,
) -> None:
    disk = small_disk(256 * 1024)
    staging = StagingArea(disk / "staging")
    writer = staging.open_writer("car-1", FRAME, 0)
    writer.write(PAYLOAD[:100])  # buffered in the process: no page of the disk used yet
    fill(disk)
    with pytest.raises(StorageError) as info:
        writer.close()
    path = staging.path("car-1", FRAME)
    assert str(info.value) == (
        f"cannot flush staging file {path}: [Errno 28] No space left on device"
    )
    assert info.value.retryable
    assert staging.committed("car-1", FRAME) == 0  # the client is told to send from 0 again


def test_a_read_only_staging_disk_refuses_a_new_upload(small_disk: SmallDisk) -> None:
    disk = small_disk(256 * 1024)
    staging = StagingArea(disk / "staging")
    read_only(disk)
    with pytest.raises(
        StorageError, match=r"cannot open staging file .*\.part: \[Errno 30\] Read-only file system"
    ) as info:
        staging.open_writer("car-1", FRAME, 0)
    assert info.value.retryable
    assert staging.committed("car-1", FRAME) == 0
