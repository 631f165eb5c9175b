"""Local-directory specifics: sharded layout, no temp files left, errors are retryable."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from backend.errors import StorageError
from backend.storage.local import LocalBlobStore


def test_objects_are_sharded_two_levels_deep_and_keep_their_key(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("frames/" + "a" * 64, b"payload")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 1
    assert len(files[0].relative_to(tmp_path).parts) == 3
    assert [i.key for i in store.list()] == ["frames/" + "a" * 64]


def test_crashed_write_temp_files_are_not_listed(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("k", b"v")
    shard = next(p for p in tmp_path.rglob("*") if p.is_file()).parent
    (shard / ".k.123.tmp").write_bytes(b"half")
    assert [i.key for i in store.list()] == ["k"]


def test_a_failing_disk_raises_a_retryable_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalBlobStore(tmp_path)

    def disk_full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    # fsync is where a full disk (or quota) is finally reported for buffered writes
    monkeypatch.setattr("core.formats.atomic.os.fsync", disk_full)
    with pytest.raises(StorageError, match="No space left") as info:
        store.put("frames/x", b"data" * 1000)
    assert info.value.retryable
    monkeypatch.undo()
    assert not store.exists("frames/x")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
