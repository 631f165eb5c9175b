"""One contract, every blob store: memory, local directory, S3 (moto server over HTTP)."""

from __future__ import annotations

import threading

import pytest

from backend.errors import StorageError
from backend.storage.base import BlobNotFoundError, BlobStore


def test_put_then_get_returns_the_same_bytes(blob_store: BlobStore) -> None:
    data = bytes(range(256)) * 1000
    blob_store.put("frames/abc", data)
    assert blob_store.get("frames/abc") == data
    assert blob_store.exists("frames/abc")


def test_get_of_a_missing_key_raises_not_found_and_is_not_retryable(blob_store: BlobStore) -> None:
    with pytest.raises(BlobNotFoundError, match="frames/nope") as info:
        blob_store.get("frames/nope")
    assert not info.value.retryable
    assert not blob_store.exists("frames/nope")


def test_put_replaces_and_delete_is_idempotent(blob_store: BlobStore) -> None:
    blob_store.put("a/b", b"first")
    blob_store.put("a/b", b"second")
    assert blob_store.get("a/b") == b"second"
    blob_store.delete("a/b")
    blob_store.delete("a/b")
    assert not blob_store.exists("a/b")


def test_empty_object_round_trips(blob_store: BlobStore) -> None:
    blob_store.put("empty", b"")
    assert blob_store.get("empty") == b""
    assert blob_store.exists("empty")


def test_list_filters_by_prefix_and_reports_sizes(blob_store: BlobStore) -> None:
    blob_store.put("frames/1", b"x")
    blob_store.put("frames/2", b"yy")
    blob_store.put("models/1", b"zzz")
    listed = {info.key: info.size for info in blob_store.list("frames/")}
    assert listed == {"frames/1": 1, "frames/2": 2}
    assert {info.key for info in blob_store.list()} == {"frames/1", "frames/2", "models/1"}
    assert all(info.modified.tzinfo is not None for info in blob_store.list())


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "../escape", "a/../b", "sp ace", "a/./b"])
def test_unsafe_keys_are_refused_with_the_key_named(blob_store: BlobStore, key: str) -> None:
    with pytest.raises(StorageError, match="invalid blob key"):
        blob_store.put(key, b"x")


def test_concurrent_puts_of_the_same_key_leave_one_whole_object(blob_store: BlobStore) -> None:
    payloads = [bytes([i]) * 200_000 for i in range(4)]
    threads = [threading.Thread(target=blob_store.put, args=("race", p)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert blob_store.get("race") in payloads
