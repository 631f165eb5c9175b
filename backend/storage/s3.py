"""A blob store in an S3 bucket (AWS, MinIO or any S3-compatible endpoint) through boto3.

A single PutObject is atomic and durable once S3 answers 200, which is exactly the contract;
frames are small (MBs), so no multipart upload is needed. Connection failures, throttling and
5xx answers raise a retryable StorageError; 4xx answers (bad bucket, access denied) do not.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from backend.errors import StorageError
from backend.storage.base import BlobInfo, BlobNotFoundError, BlobStore, check_key

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

log = logging.getLogger(__name__)

_RETRYABLE_CODES = {
    "SlowDown",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "Throttling",
}


def _is_retryable(exc: Exception) -> bool:
    if isinstance(exc, ClientError):
        error: dict[str, Any] = dict(exc.response.get("Error", {}))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        return status >= 500 or str(error.get("Code", "")) in _RETRYABLE_CODES
    return True  # BotoCoreError: connection refused, timeouts, DNS: the store is unreachable


def make_s3_client(
    *,
    endpoint_url: str | None,
    region: str | None,
    connect_timeout_s: float = 5.0,
    read_timeout_s: float = 30.0,
    max_attempts: int = 3,
) -> S3Client:
    """A boto3 S3 client; credentials come from boto3's usual chain (env, profile, role)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
        retries={"max_attempts": max_attempts, "mode": "standard"},
        s3={"addressing_style": "path"},  # MinIO and moto need path-style without DNS tricks
    )
    client: S3Client = boto3.client(
        "s3", endpoint_url=endpoint_url, region_name=region, config=config
    )
    return client


class S3BlobStore(BlobStore):
    """Objects under ``s3://bucket/prefix``; the client is passed in (see :func:`make_s3_client`)."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "") -> None:
        if not bucket:
            raise StorageError("S3 blob store needs a bucket name, got an empty one")
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _fail(self, action: str, key: str, exc: Exception) -> StorageError:
        return StorageError(
            f"S3 {action} of {key!r} in s3://{self.bucket}/{self.prefix} failed: {exc}",
            retryable=_is_retryable(exc),
        )

    def put(self, key: str, data: bytes) -> None:
        try:
            self._client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("put", key, exc) from exc

    def get(self, key: str) -> bytes:
        try:
            reply = self._client.get_object(Bucket=self.bucket, Key=self._name(key))
            return reply["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise BlobNotFoundError(
                    f"no blob under key {key!r} in s3://{self.bucket}/{self.prefix}"
                ) from None
            raise self._fail("get", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("get", key, exc) from exc

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._name(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                return False
            raise self._fail("head", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("head", key, exc) from exc

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._name(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("delete", key, exc) from exc

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for obj in page.get("Contents", []):
                    yield BlobInfo(
                        key=obj["Key"][len(self.prefix) :],
                        size=int(obj["Size"]),
                        modified=obj["LastModified"],
                    )
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("list", prefix, exc) from exc

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"
