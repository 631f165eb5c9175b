"""Bad input gets a precise status and a log line, nothing is stored, and the server keeps serving."""

from __future__ import annotations

import hashlib
import logging
import struct
import zlib
from collections.abc import Callable, Iterator

import grpc
import pytest

from backend.config import IngestConfig
from backend.ingest.service import blob_key_for
from core.formats.codec import HEADER, MAGIC, VERSION
from longtail.v1 import frame_pb2, ingest_pb2
from tests.backend.ingest.conftest import RunningIngest, StartIngest
from tests.backend.ingest.upload_client import (
    IngestTestClient,
    SampleFrame,
    Status,
    chunks,
    make_frame,
    metadata_for,
    rpc_code,
)
from tests.backend.metadata.queries import count_frames

Code = grpc.StatusCode


def refused(
    running: RunningIngest,
    caplog: pytest.LogCaptureFixture,
    call: Callable[[], object],
    code: grpc.StatusCode,
    message: str,
    *,
    exact: bool = False,
) -> None:
    """``call`` fails with ``code`` and ``message`` (the whole message when ``exact``, else a part
    of it), one log line names the code, nothing is stored, and a good upload succeeds right
    after."""
    before = count_frames(running.backend.db)
    with (
        caplog.at_level(logging.WARNING, logger="backend.ingest"),
        pytest.raises(grpc.RpcError) as info,
    ):
        call()
    assert rpc_code(info.value) == code, info.value
    assert isinstance(info.value, grpc.Call)
    details = info.value.details() or ""
    assert details == message if exact else message in details, details
    assert any(code.name in r.getMessage() and "refused" in r.getMessage() for r in caplog.records)
    caplog.clear()
    assert count_frames(running.backend.db) == before
    good = make_frame("car-1", num_points=100, seed=10_000 + before)
    assert running.client().upload(good).status == Status.STATUS_STORED


#: the decompressed-size limit of the default configuration, bytes
DECOMPRESSED_LIMIT = IngestConfig().max_decompressed_bytes


def bomb_frame(vehicle: str, claimed_points: int) -> SampleFrame:
    """A frame whose (valid, CRC-checked) header claims ``claimed_points`` but holds a few bytes."""
    body = zlib.compress(b"\0" * 64)
    head = HEADER.pack(MAGIC, VERSION, 1, 0, claimed_points, 0.0, len(body), 0)
    payload = head + struct.pack("<I", zlib.crc32(head)) + body
    return SampleFrame(payload, metadata_for(payload, vehicle, num_points=100))


def test_wrong_checksum_is_data_loss_and_discards_the_staged_bytes(
    ingest: RunningIngest, caplog: pytest.LogCaptureFixture
) -> None:
    frame = make_frame("car-1", seed=20)
    corrupt = bytearray(frame.payload)
    corrupt[100] ^= 0xFF  # in the compressed body: the codec header still reads fine
    client = ingest.client()
    refused(
        ingest,
        caplog,
        lambda: client.send(chunks(frame, data=bytes(corrupt))),
        Code.DATA_LOSS,
        f"payload SHA-256 is {hashlib.sha256(corrupt).hexdigest()}, not the frame id "
        f"{frame.frame_id}; staged bytes discarded",
        exact=True,
    )
    assert client.query(frame.frame_id).committed_offset == 0
    assert not ingest.backend.blobs.exists(blob_key_for(frame.frame_id))
    assert client.upload(frame).status == Status.STATUS_STORED  # the real bytes still go through


def test_staged_bytes_damaged_between_streams_fail_the_checksum_of_the_resumed_upload(
    ingest: RunningIngest, caplog: pytest.LogCaptureFixture
) -> None:
    """What a power loss can leave (unsynced bytes read back as zeros): the resumed upload is
    refused as DATA_LOSS, the staged copy is discarded and the client's next attempt stores it."""
    frame = make_frame("car-1", num_points=5000, seed=32)
    client = ingest.client()
    half = len(frame.payload) // 2
    assert client.send(chunks(frame, stop_at=half)).committed_offset == half
    staged = ingest.backend.staging.path("car-1", frame.frame_id)
    damaged = frame.payload[: half - 4096] + bytes(4096)
    staged.write_bytes(damaged)
    refused(
        ingest,
        caplog,
        lambda: client.send(chunks(frame, start=half)),
        Code.DATA_LOSS,
        f"payload SHA-256 is {hashlib.sha256(damaged + frame.payload[half:]).hexdigest()}, not "
        f"the frame id {frame.frame_id}; staged bytes discarded",
        exact=True,
    )
    assert not staged.exists()
    assert client.upload(frame).status == Status.STATUS_STORED
    assert ingest.backend.blobs.get(blob_key_for(frame.frame_id)) == frame.payload


def test_oversize_frame_is_refused_for_good(
    start_ingest_server: StartIngest, caplog: pytest.LogCaptureFixture
) -> None:
    running = start_ingest_server(max_frame_bytes=20_000, max_chunk_bytes=10_000)
    frame = make_frame("car-1", num_points=5000, seed=21)
    assert len(frame.payload) > 20_000
    call = lambda: running.client().send(chunks(frame, chunk_bytes=10_000))  # noqa: E731
    refused(
        running,
        caplog,
        call,
        Code.INVALID_ARGUMENT,
        f"frame {frame.frame_id}: payload_size {len(frame.payload)} is over the limit of "
        "20000 bytes",
        exact=True,
    )


def test_oversize_chunk_is_refused_for_good_and_keeps_earlier_chunks(
    start_ingest_server: StartIngest, caplog: pytest.LogCaptureFixture
) -> None:
    running = start_ingest_server(max_chunk_bytes=4096)
    frame = make_frame("car-1", num_points=5000, seed=22)
    client = running.client()

    def stream() -> Iterator[ingest_pb2.UploadChunk]:
        yield from chunks(frame, chunk_bytes=4096, stop_at=8192)
        yield ingest_pb2.UploadChunk(offset=8192, data=frame.payload[8192 : 8192 + 5000])

    refused(running, caplog, lambda: client.send(stream()), Code.INVALID_ARGUMENT, "4096")
    assert client.query(frame.frame_id).committed_offset == 8192


def test_oversize_metadata_is_refused_for_good(
    start_ingest_server: StartIngest, caplog: pytest.LogCaptureFixture
) -> None:
    running = start_ingest_server(max_metadata_bytes=2048)
    frame = make_frame("car-1", seed=23)
    frame.metadata.rules_fired.extend(f"rule-{i}" for i in range(500))
    call = lambda: running.client().send(chunks(frame))  # noqa: E731
    refused(running, caplog, call, Code.INVALID_ARGUMENT, "metadata is")


def test_metadata_claiming_too_many_points_is_refused_before_any_byte_is_kept(
    ingest: RunningIngest, caplog: pytest.LogCaptureFixture
) -> None:
    frame = make_frame("car-1", seed=24)
    frame.metadata.num_points = 1_000_000_000
    client = ingest.client()
    refused(
        ingest,
        caplog,
        lambda: client.send(chunks(frame)),
        Code.INVALID_ARGUMENT,
        f"frame {frame.frame_id}: metadata.num_points = 1000000000 decodes to 16000000000 "
        f"bytes, over the limit of {DECOMPRESSED_LIMIT}",
        exact=True,
    )
    assert client.query(frame.frame_id).committed_offset == 0


def test_decompression_bomb_header_is_refused(
    ingest: RunningIngest, caplog: pytest.LogCaptureFixture
) -> None:
    frame = bomb_frame("car-1", claimed_points=2**32 - 1)  # the metadata claims 100 points
    client = ingest.client()
    refused(
        ingest,
        caplog,
        lambda: client.send(chunks(frame)),
        Code.INVALID_ARGUMENT,
        f"frame {frame.frame_id}: payload header num_points = 4294967295 decodes to "
        f"68719476720 bytes, over the limit of {DECOMPRESSED_LIMIT}",
        exact=True,
    )
    assert client.query(frame.frame_id).committed_offset == 0


def test_header_and_metadata_point_counts_must_agree(
    ingest: RunningIngest, caplog: pytest.LogCaptureFixture
) -> None:
    frame = bomb_frame("car-1", claimed_points=5000)
    call = lambda: ingest.client().send(chunks(frame))  # noqa: E731
    refused(
        ingest,
        caplog,
        call,
        Code.INVALID_ARGUMENT,
        f"frame {frame.frame_id}: payload header says 5000 points, metadata says 100",
        exact=True,
    )


def test_header_and_metadata_encodings_must_agree(
    ingest: RunningIngest, caplog: pytest.LogCaptureFixture
) -> None:
    frame = make_frame("car-1", seed=31)
    frame.metadata.encoding = frame_pb2.PointCloud.ENCODING_QUANTIZED
    call = lambda: ingest.client().send(chunks(frame))  # noqa: E731
    refused(ingest, caplog, call, Code.INVALID_ARGUMENT, "metadata says ENCODING_QUANTIZED")


def test_payload_that_is_not_a_frame_is_invalid(
    ingest: RunningIngest, caplog: pytest.LogCaptureFixture
) -> None:
    payload = b"not a lidar frame at all" * 10
    frame = SampleFrame(payload, metadata_for(payload, "car-1", 10))
    call = lambda: ingest.client().send(chunks(frame))  # noqa: E731
    refused(ingest, caplog, call, Code.INVALID_ARGUMENT, "unreadable")


@pytest.mark.parametrize(
    ("token", "code", "message"),
    [
        (None, Code.UNAUTHENTICATED, "missing 'authorization'"),
        ("not-a-token", Code.UNAUTHENTICATED, "unknown vehicle token"),
        ("", Code.UNAUTHENTICATED, "must be 'Bearer <token>'"),
    ],
)
def test_bad_tokens_are_unauthenticated(
    ingest: RunningIngest,
    caplog: pytest.LogCaptureFixture,
    token: str | None,
    code: Code,
    message: str,
) -> None:
    frame = make_frame("car-1", seed=25)
    client = IngestTestClient(grpc.insecure_channel(ingest.handle.target), token)
    if token == "":
        client.auth = (("authorization", "Basic abc"),)
    refused(ingest, caplog, lambda: client.send(chunks(frame)), code, message)
    refused(ingest, caplog, lambda: client.query(frame.frame_id), code, message)


def test_a_revoked_token_is_permission_denied(
    ingest: RunningIngest, caplog: pytest.LogCaptureFixture
) -> None:
    with ingest.backend.db.transaction("revoke") as uow:
        uow.vehicles.revoke("car-2")
    frame = make_frame("car-2", seed=26)
    frame.metadata.vehicle_id = "car-2"
    client = ingest.client("car-2")
    refused(ingest, caplog, lambda: client.send(chunks(frame)), Code.PERMISSION_DENIED, "revoked")


def test_uploading_as_another_vehicle_is_permission_denied(
    ingest: RunningIngest, caplog: pytest.LogCaptureFixture
) -> None:
    frame = make_frame("car-2", seed=27)
    frame.metadata.vehicle_id = "car-2"
    call = lambda: ingest.client("car-1").send(chunks(frame))  # noqa: E731
    refused(ingest, caplog, call, Code.PERMISSION_DENIED, "does not match")


def _no_metadata(frame: SampleFrame) -> Iterator[ingest_pb2.UploadChunk]:
    yield ingest_pb2.UploadChunk(offset=0, data=frame.payload, last=True)


def _gap(frame: SampleFrame) -> Iterator[ingest_pb2.UploadChunk]:
    first = next(chunks(frame, start=1000))
    yield first


def _skip(frame: SampleFrame) -> Iterator[ingest_pb2.UploadChunk]:
    stream = chunks(frame, chunk_bytes=1000)
    yield next(stream)
    next(stream)
    yield from stream


def _past_end(frame: SampleFrame) -> Iterator[ingest_pb2.UploadChunk]:
    for chunk in chunks(frame):
        if chunk.last:
            chunk.data += b"extra"
        yield chunk


def _early_last(frame: SampleFrame) -> Iterator[ingest_pb2.UploadChunk]:
    chunk = next(chunks(frame, chunk_bytes=1000))
    chunk.last = True
    yield chunk


def _bad_id(frame: SampleFrame) -> Iterator[ingest_pb2.UploadChunk]:
    frame.metadata.frame_id = "../../etc/passwd"
    yield from chunks(frame)


def _empty(_frame: SampleFrame) -> Iterator[ingest_pb2.UploadChunk]:
    yield from ()


def _nan_priority(frame: SampleFrame) -> Iterator[ingest_pb2.UploadChunk]:
    frame.metadata.priority = float("nan")
    yield from chunks(frame)


def _long_model_version(frame: SampleFrame) -> Iterator[ingest_pb2.UploadChunk]:
    frame.metadata.model_version = "m" * 500
    yield from chunks(frame)


@pytest.mark.parametrize(
    ("stream", "code", "message"),
    [
        (_no_metadata, Code.INVALID_ARGUMENT, "must carry metadata"),
        (_gap, Code.FAILED_PRECONDITION, "past the 0 bytes held"),
        (_skip, Code.INVALID_ARGUMENT, "does not continue at byte 1000"),
        (_past_end, Code.INVALID_ARGUMENT, "runs past payload_size"),
        (_early_last, Code.INVALID_ARGUMENT, "last chunk ends at byte 1000"),
        (_bad_id, Code.INVALID_ARGUMENT, "not 64 lowercase hex"),
        (_empty, Code.INVALID_ARGUMENT, "no chunks"),
        (_nan_priority, Code.INVALID_ARGUMENT, "priority must be finite"),
        (_long_model_version, Code.INVALID_ARGUMENT, "model_version is 500 characters"),
    ],
)
def test_malformed_streams_are_refused_precisely(
    ingest: RunningIngest,
    caplog: pytest.LogCaptureFixture,
    stream: Callable[[SampleFrame], Iterator[ingest_pb2.UploadChunk]],
    code: Code,
    message: str,
) -> None:
    frame = make_frame("car-1", num_points=3000, seed=28)
    refused(ingest, caplog, lambda: ingest.client().send(stream(frame)), code, message)


@pytest.mark.parametrize("method", ["Upload", "QueryOffset"])
def test_malformed_protobuf_is_invalid_argument(
    ingest: RunningIngest, caplog: pytest.LogCaptureFixture, method: str
) -> None:
    channel = grpc.insecure_channel(ingest.handle.target)
    ingest.channels.append(channel)
    auth = (("authorization", f"Bearer {ingest.tokens['car-1']}"),)
    garbage = b"\x0a\xff\xff\xff\xff\x0f garbage that is not protobuf"
    path = f"/longtail.v1.Ingest/{method}"
    # no serializers: the raw bytes go on the wire as the request message
    upload: grpc.StreamUnaryMultiCallable[bytes, bytes] = channel.stream_unary(path)
    query: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(path)

    def call() -> object:
        if method == "Upload":
            return upload(iter([garbage]), metadata=auth, timeout=10)
        return query(garbage, metadata=auth, timeout=10)

    refused(ingest, caplog, call, Code.INVALID_ARGUMENT, "malformed")


def test_a_message_over_the_transport_limit_is_resource_exhausted(
    start_ingest_server: StartIngest,
) -> None:
    running = start_ingest_server(max_chunk_bytes=1024, max_metadata_bytes=1024)
    frame = make_frame("car-1", num_points=50_000, seed=29)
    # far over chunk + metadata + slack: gRPC itself refuses the message before the service sees it
    with pytest.raises(grpc.RpcError) as info:
        running.client().send(chunks(frame, chunk_bytes=len(frame.payload)))
    assert rpc_code(info.value) == Code.RESOURCE_EXHAUSTED
    assert count_frames(running.backend.db) == 0
    assert running.client().upload(
        make_frame("car-1", num_points=10, seed=30), chunk_bytes=1024
    ).status == (Status.STATUS_STORED)
