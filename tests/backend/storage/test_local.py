"""Local-directory specifics: sharded layout, temp files of crashed writes not listed (full and
read-only disks: test_full_disk.py)."""

from __future__ import annotations

from pathlib import Path

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
