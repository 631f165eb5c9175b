"""The ingest client over real gRPC on loopback, against a scripted servicer."""

from __future__ import annotations

import math
from collections.abc import Iterator

import grpc
import pytest

from agent.selection.budget import monotonic_clock
from agent.upload.backoff import BandwidthLimiter
from agent.upload.client import (
    Delivered,
    IngestClient,
    PermanentUploadError,
    TransientUploadError,
    make_channel,
)
from tests.agent.spool.helpers import make_record
from tests.agent.upload.fake_ingest import FakeIngest, serve


@pytest.fixture
def ingest() -> Iterator[tuple[FakeIngest, grpc.Channel]]:
    servicer = FakeIngest()
    server, port = serve(servicer)
    channel = make_channel(f"127.0.0.1:{port}", None)
    try:
        yield servicer, channel
    finally:
        channel.close()
        server.stop(None)


def client(channel: grpc.Channel, token: str = "secret", chunk: int = 1000) -> IngestClient:
    unlimited = BandwidthLimiter(math.inf, 1.0, monotonic_clock(), lambda _s: False)
    return IngestClient(channel, token, unlimited, chunk_bytes=chunk, timeout_s=10)


def test_uploads_in_chunks_with_metadata_and_is_idempotent(
    ingest: tuple[FakeIngest, grpc.Channel],
) -> None:
    servicer, channel = ingest
    record = make_record(size=4500)
    c = client(channel)
    assert c.upload(record) is Delivered.STORED
    assert servicer.stored[record.frame_id] == record.payload
    assert servicer.metadata[record.frame_id].rules_fired == ["hot"]
    assert c.bytes_sent == 4500
    # a second upload is answered by QueryOffset; no payload byte is sent again
    assert c.upload(record) is Delivered.ALREADY_STORED
    assert c.bytes_sent == 4500
    assert servicer.upload_calls == 1


def test_a_cut_stream_resumes_from_the_committed_offset(
    ingest: tuple[FakeIngest, grpc.Channel],
) -> None:
    servicer, channel = ingest
    record = make_record(size=10_000)
    c = client(channel)
    servicer.cut_after_bytes = 3000
    with pytest.raises(TransientUploadError, match="UNAVAILABLE"):
        c.upload(record)
    held = len(servicer.staged[record.frame_id])
    assert 3000 <= held < 10_000
    assert c.upload(record) is Delivered.STORED
    assert servicer.first_offsets == [0, held]
    assert servicer.stored[record.frame_id] == record.payload


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.FAILED_PRECONDITION,
    ],
)
def test_transient_codes_are_retryable(
    ingest: tuple[FakeIngest, grpc.Channel], code: grpc.StatusCode
) -> None:
    servicer, channel = ingest
    servicer.faults = [code]
    with pytest.raises(TransientUploadError, match=code.name):
        client(channel).upload(make_record())


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNIMPLEMENTED,
    ],
)
def test_permanent_codes_are_not(
    ingest: tuple[FakeIngest, grpc.Channel], code: grpc.StatusCode
) -> None:
    servicer, channel = ingest
    servicer.faults = [code]
    record = make_record()
    with pytest.raises(PermanentUploadError, match=f"frame {record.frame_id}: {code.name}"):
        client(channel).upload(record)


def test_a_wrong_token_is_retried_not_quarantined(ingest: tuple[FakeIngest, grpc.Channel]) -> None:
    _servicer, channel = ingest
    with pytest.raises(TransientUploadError, match="UNAUTHENTICATED"):
        client(channel, token="stale").upload(make_record())


def test_server_down_is_transient() -> None:
    channel = make_channel("127.0.0.1:1", None)  # nothing listens on port 1
    try:
        c = client(channel)
        c.timeout_s = 2.0
        with pytest.raises(TransientUploadError):
            c.upload(make_record())
    finally:
        channel.close()


def test_stop_during_the_bandwidth_wait_ends_the_stream_partial(
    ingest: tuple[FakeIngest, grpc.Channel],
) -> None:
    servicer, channel = ingest
    waits: list[float] = []

    def stop_on_second_wait(seconds: float) -> bool:
        waits.append(seconds)
        return len(waits) >= 2

    limiter = BandwidthLimiter(1000.0, 1000.0, monotonic_clock(), stop_on_second_wait)
    c = IngestClient(channel, "secret", limiter, chunk_bytes=1000, timeout_s=10)
    record = make_record(size=5000)
    with pytest.raises(TransientUploadError, match="STATUS_PARTIAL"):
        c.upload(record)
    assert len(servicer.staged[record.frame_id]) in (1000, 2000)
