"""Uploads over loopback gRPC: store, idempotency, resume, and every metadata/blob combination."""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Iterator

import grpc
import pytest

from backend.ingest.service import blob_key_for
from backend.storage.memory import InMemoryBlobStore
from backend.storage.s3 import S3BlobStore, make_s3_client
from longtail.v1 import ingest_pb2
from tests.backend.ingest.conftest import RunningIngest, StartIngest
from tests.backend.ingest.upload_client import Status, chunks, make_frame, rpc_code
from tests.backend.metadata.queries import count_frames, get_frame
from tests.fixtures.services import MotoServer


class CountingStore(InMemoryBlobStore):
    """The fake store, counting puts (to prove a duplicate upload writes nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.puts = 0

    def put(self, key: str, data: bytes) -> None:
        self.puts += 1
        super().put(key, data)


def test_a_frame_is_stored_with_blob_and_row(ingest: RunningIngest) -> None:
    frame = make_frame("car-1", seed=1)
    ack = ingest.client().upload(frame, chunk_bytes=4096)
    assert ack.status == Status.STATUS_STORED
    assert ack.committed_offset == len(frame.payload)
    blob = ingest.backend.blobs.get(blob_key_for(frame.frame_id))
    assert hashlib.sha256(blob).hexdigest() == frame.frame_id
    row = get_frame(ingest.backend.db, frame.frame_id)
    assert row is not None and row.vehicle == "car-1" and row.num_points == 2000
    assert row.detections[0].class_name == "car" and row.frame_scores == {"entropy": 0.93}
    assert ingest.backend.staging.committed("car-1", frame.frame_id) == 0  # staging cleaned


def test_re_upload_is_already_stored_and_writes_nothing(
    start_ingest_server: StartIngest, caplog: pytest.LogCaptureFixture
) -> None:
    store = CountingStore()
    running = start_ingest_server(blobs=store)
    frame = make_frame("car-1", seed=2)
    client = running.client()
    assert client.send(chunks(frame)).status == Status.STATUS_STORED
    # a blind re-send (no QueryOffset), and one by another vehicle: both acknowledged, no write
    with caplog.at_level(logging.INFO, logger="backend.ingest"):
        again = client.send(chunks(frame))
    assert again == ingest_pb2.UploadAck(
        frame_id=frame.frame_id,
        status=Status.STATUS_ALREADY_STORED,
        committed_offset=len(frame.payload),
    )
    assert f"frame {frame.frame_id} from car-1 already stored; nothing written" in caplog.messages
    other = make_frame("car-1", seed=2)
    other.metadata.vehicle_id = "car-2"
    assert running.client("car-2").send(chunks(other)).status == Status.STATUS_ALREADY_STORED
    assert store.puts == 1
    assert count_frames(running.backend.db) == 1
    reply = client.query(frame.frame_id)
    assert reply.stored and reply.committed_offset == len(frame.payload)


def test_a_truncated_stream_is_partial_and_resumes_from_the_committed_offset(
    ingest: RunningIngest,
) -> None:
    frame = make_frame("car-1", num_points=20_000, seed=3)
    client = ingest.client()
    assert client.query(frame.frame_id).committed_offset == 0
    cut = len(frame.payload) // 3
    ack = client.send(chunks(frame, chunk_bytes=1000, stop_at=cut))
    assert ack.status == Status.STATUS_PARTIAL and ack.committed_offset == cut
    reply = client.query(frame.frame_id)
    assert not reply.stored and reply.committed_offset == cut
    assert count_frames(ingest.backend.db) == 0
    # another vehicle's staging is separate
    assert ingest.client("car-2").query(frame.frame_id).committed_offset == 0
    ack = client.send(chunks(frame, start=cut, chunk_bytes=1000))
    assert ack.status == Status.STATUS_STORED
    assert ingest.backend.blobs.get(blob_key_for(frame.frame_id)) == frame.payload


def test_a_cancelled_stream_keeps_what_arrived(ingest: RunningIngest) -> None:
    frame = make_frame("car-1", num_points=20_000, seed=4)
    client = ingest.client()
    sent = threading.Event()

    def stream() -> Iterator[ingest_pb2.UploadChunk]:
        for i, chunk in enumerate(chunks(frame, chunk_bytes=2000)):
            yield chunk
            if i == 5:
                sent.set()
                threading.Event().wait(30)  # hang until the call is cancelled

    future = client.stub.Upload.future(stream(), metadata=client.auth, timeout=30)
    assert sent.wait(10)
    threading.Event().wait(0.3)  # let the server write the chunks it has
    future.cancel()
    with pytest.raises(grpc.FutureCancelledError):
        future.result()
    committed = 0
    for _ in range(50):  # the server notices the cancellation asynchronously
        committed = client.query(frame.frame_id).committed_offset
        if committed == 12_000:
            break
        threading.Event().wait(0.1)
    assert committed == 12_000
    assert client.upload(frame).status == Status.STATUS_STORED
    assert ingest.backend.blobs.get(blob_key_for(frame.frame_id)) == frame.payload


def test_a_resend_from_an_earlier_offset_is_accepted(ingest: RunningIngest) -> None:
    frame = make_frame("car-1", num_points=5000, seed=5)
    client = ingest.client()
    client.send(chunks(frame, chunk_bytes=1000, stop_at=8000))
    assert client.send(chunks(frame, start=3000, chunk_bytes=1000)).status == Status.STATUS_STORED
    assert ingest.backend.blobs.get(blob_key_for(frame.frame_id)) == frame.payload


def test_fully_staged_frame_completes_with_an_empty_last_chunk(ingest: RunningIngest) -> None:
    frame = make_frame("car-1", seed=6)
    client = ingest.client()
    size = len(frame.payload)
    assert client.send(chunks(frame, stop_at=size)).committed_offset == size
    assert client.send(chunks(frame, start=size)).status == Status.STATUS_STORED


def test_the_same_frame_from_two_vehicles_at_once_gives_one_row(ingest: RunningIngest) -> None:
    frames = [make_frame(v, num_points=30_000, seed=7) for v in ("car-1", "car-2")]
    frames[1].metadata.vehicle_id = "car-2"
    acks: list[int] = []
    clients = [ingest.client("car-1"), ingest.client("car-2")]
    threads = [
        threading.Thread(
            target=lambda c=c, f=f: acks.append(c.send(chunks(f, chunk_bytes=5000)).status)
        )
        for c, f in zip(clients, frames, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # whoever commits the row second (or starts after it) is told ALREADY_STORED
    assert sorted(acks) == [Status.STATUS_STORED, Status.STATUS_ALREADY_STORED]
    assert count_frames(ingest.backend.db) == 1


def test_two_streams_of_the_same_frame_and_vehicle_do_not_interleave(
    start_ingest_server: StartIngest,
) -> None:
    running = start_ingest_server(lock_wait_s=0.2)
    frame = make_frame("car-1", num_points=20_000, seed=8)
    client = running.client()
    slow = client.stub.Upload.future(
        chunks(frame, chunk_bytes=20_000, pause_s=0.1), metadata=client.auth, timeout=30
    )
    threading.Event().wait(0.3)
    with pytest.raises(grpc.RpcError) as info:
        client.send(chunks(frame))
    assert rpc_code(info.value) == grpc.StatusCode.ABORTED
    assert slow.result().status == Status.STATUS_STORED


@pytest.mark.parametrize("metadata_kind", ["sqlite", "postgresql"])
@pytest.mark.parametrize("blob_kind", ["local", "s3"])
def test_store_on_every_metadata_and_blob_backend(
    start_ingest_server: StartIngest,
    request: pytest.FixtureRequest,
    metadata_kind: str,
    blob_kind: str,
) -> None:
    url = request.getfixturevalue("postgres_db_url") if metadata_kind == "postgresql" else None
    blobs = None
    if blob_kind == "s3":
        moto: MotoServer = request.getfixturevalue("moto_s3")
        bucket = f"ingest-{uuid.uuid4().hex[:10]}"
        moto.create_bucket(bucket)
        blobs = S3BlobStore(
            make_s3_client(endpoint_url=moto.endpoint, region="us-east-1"), bucket, "fleet"
        )
    running = start_ingest_server(metadata_url=url, blobs=blobs)
    frame = make_frame("car-1", seed=9)
    client = running.client()
    assert client.send(chunks(frame, stop_at=1000)).status == Status.STATUS_PARTIAL
    assert client.upload(frame).status == Status.STATUS_STORED
    assert client.upload(frame).status == Status.STATUS_ALREADY_STORED
    assert running.backend.blobs.get(blob_key_for(frame.frame_id)) == frame.payload
    assert count_frames(running.backend.db) == 1
