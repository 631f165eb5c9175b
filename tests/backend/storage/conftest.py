"""Blob store fixtures: ``blob_store`` runs each contract test against every implementation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.storage.base import BlobStore
from backend.storage.local import LocalBlobStore
from backend.storage.memory import InMemoryBlobStore
from backend.storage.s3 import S3BlobStore, make_s3_client
from tests.fixtures.services import MotoServer


@pytest.fixture(params=["memory", "local", "s3"])
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    """A fresh, empty store of each kind (S3: a new bucket on the session's moto server)."""
    if request.param == "memory":
        yield InMemoryBlobStore()
    elif request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
    else:
        moto: MotoServer = request.getfixturevalue("moto_s3")
        bucket = f"test-{uuid.uuid4().hex[:12]}"
        moto.create_bucket(bucket)
        yield S3BlobStore(
            make_s3_client(endpoint_url=moto.endpoint, region="us-east-1"), bucket, "lt"
        )
