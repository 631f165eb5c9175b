"""Faults with real processes and real outages: junk on the port, a backend killed mid-stream and
restarted through the CLI, S3 (moto server) stopped, full blob and staging disks, a crash between blob
and row."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from backend.errors import StorageError
from backend.ingest.service import blob_key_for
from backend.metadata.records import FrameRecord
from backend.metadata.repositories.frames import FrameRepository
from backend.storage.local import LocalBlobStore
from backend.storage.s3 import S3BlobStore, make_s3_client
from backend.wiring import local_config
from longtail.v1 import ingest_pb2
from tests.backend.ingest.conftest import RunningIngest, StartIngest
from tests.backend.ingest.upload_client import (
    IngestTestClient,
    Status,
    chunks,
    make_frame,
    rpc_code,
)
from tests.backend.metadata.queries import count_frames, get_frame
from tests.fixtures.mounts import SmallDisk, fill
from tests.fixtures.services import MotoServer, free_port

ROOT = Path(__file__).resolve().parents[3]


def test_garbage_bytes_on_the_port_do_not_hurt_the_server(ingest: RunningIngest) -> None:
    junk = [
        b"\x00" * 100,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        os.urandom(4096),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(512),
    ]
    for blob in junk:
        with socket.create_connection(("127.0.0.1", ingest.handle.port), timeout=5) as sock:
            sock.sendall(blob)
            sock.settimeout(2)
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                sock.recv(1024)  # the server answers with an HTTP/2 GOAWAY or just closes
    half_open = socket.create_connection(("127.0.0.1", ingest.handle.port), timeout=5)
    try:
        half_open.sendall(b"PRI * HTTP/2.0")  # and leave it hanging
        frame = make_frame("car-1", seed=40)
        assert ingest.client().upload(frame).status == Status.STATUS_STORED
    finally:
        half_open.close()


# -- a full disk (a real one: a small tmpfs, so ENOSPC comes from the kernel) ----------------


def test_a_full_blob_disk_is_unavailable_and_nothing_is_half_written(
    start_ingest_server: StartIngest, small_disk: SmallDisk
) -> None:
    disk = small_disk(512 * 1024)
    blobs = LocalBlobStore(disk / "blobs")
    running = start_ingest_server(blobs=blobs)
    frame = make_frame("car-1", seed=41)
    ballast = fill(disk, leave_bytes=8192)
    assert len(frame.payload) > 8192
    client = running.client()
    with pytest.raises(grpc.RpcError) as info:
        client.send(chunks(frame))
    key = blob_key_for(frame.frame_id)
    assert rpc_code(info.value) == grpc.StatusCode.UNAVAILABLE
    assert isinstance(info.value, grpc.Call)
    assert info.value.details() == (
        f"storage unavailable, retry later: cannot write blob {key!r} ({len(frame.payload)} "
        f"bytes) to {blobs._path(key)}: [Errno 28] No space left on device"
    )
    assert [p for p in (disk / "blobs").rglob("*") if p.is_file()] == []  # no temp, no object
    assert count_frames(running.backend.db) == 0
    # the staged payload is kept: after space is freed the client finishes with one empty chunk
    assert client.query(frame.frame_id).committed_offset == len(frame.payload)
    ballast.unlink()
    assert client.upload(frame).status == Status.STATUS_STORED
    assert blobs.get(key) == frame.payload


def test_a_full_staging_disk_is_unavailable_and_the_upload_resumes_after_space_is_freed(
    start_ingest_server: StartIngest, small_disk: SmallDisk
) -> None:
    disk = small_disk(512 * 1024)
    running = start_ingest_server(staging=disk / "staging")
    frame = make_frame("car-1", num_points=8000, seed=46)
    ballast = fill(disk, leave_bytes=16 * 1024)
    client = running.client()
    with pytest.raises(grpc.RpcError) as info:
        client.send(chunks(frame, chunk_bytes=4096))
    assert rpc_code(info.value) == grpc.StatusCode.UNAVAILABLE
    assert isinstance(info.value, grpc.Call)
    found = re.fullmatch(
        r"storage unavailable, retry later: cannot stage 4096 bytes at offset (\d+) in "
        rf"{re.escape(str(running.backend.staging.path('car-1', frame.frame_id)))}: "
        r"\[Errno 28\] No space left on device",
        info.value.details() or "",
    )
    assert found, info.value.details()
    committed = client.query(frame.frame_id).committed_offset
    staged = running.backend.staging.read("car-1", frame.frame_id)
    assert 0 < committed == len(staged) <= int(found[1]) < len(frame.payload)
    assert staged == frame.payload[:committed]  # a prefix, never garbage
    ballast.unlink()
    assert client.upload(frame, chunk_bytes=4096).status == Status.STATUS_STORED
    assert running.backend.blobs.get(blob_key_for(frame.frame_id)) == frame.payload


# -- S3 outage ---------------------------------------------------------------------------------


def test_s3_outage_is_unavailable_and_the_upload_completes_afterwards(
    start_ingest_server: StartIngest, moto_factory: type[MotoServer], tmp_path: Path
) -> None:
    moto = moto_factory(tmp_path)
    moto.start()
    bucket = f"outage-{uuid.uuid4().hex[:8]}"
    moto.create_bucket(bucket)
    store = S3BlobStore(
        make_s3_client(
            endpoint_url=moto.endpoint, region="us-east-1", connect_timeout_s=1, max_attempts=1
        ),
        bucket,
    )
    running = start_ingest_server(blobs=store)
    client = running.client()
    first = make_frame("car-1", seed=42)
    assert client.upload(first).status == Status.STATUS_STORED
    moto.stop()
    frame = make_frame("car-1", seed=43)
    with pytest.raises(grpc.RpcError) as info:
        client.send(chunks(frame))
    assert rpc_code(info.value) == grpc.StatusCode.UNAVAILABLE
    assert count_frames(running.backend.db) == 1
    # S3 comes back (moto forgets its data, so the bucket is recreated)
    moto.start()
    moto.create_bucket(bucket)
    assert client.upload(frame).status == Status.STATUS_STORED
    assert store.get(blob_key_for(frame.frame_id)) == frame.payload
    assert count_frames(running.backend.db) == 2


# -- a crash between blob and row -------------------------------------------------------------


def test_failure_between_blob_and_row_leaves_only_an_orphan_blob_which_the_sweep_removes(
    ingest: RunningIngest, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_add = FrameRepository.add
    failures = [StorageError("connection to the metadata database was lost", retryable=True)]

    def add_fails_once(self: FrameRepository, record: FrameRecord) -> bool:
        if failures:
            raise failures.pop()
        return real_add(self, record)

    monkeypatch.setattr(FrameRepository, "add", add_fails_once)
    frame = make_frame("car-1", seed=44)
    client = ingest.client()
    with pytest.raises(grpc.RpcError) as info:
        client.send(chunks(frame))
    assert rpc_code(info.value) == grpc.StatusCode.UNAVAILABLE
    key = blob_key_for(frame.frame_id)
    assert ingest.backend.blobs.exists(key) and get_frame(ingest.backend.db, frame.frame_id) is None
    report = ingest.backend.sweep(grace_s=0.0)
    assert report.removed == [key]
    assert not ingest.backend.blobs.exists(key)
    assert client.upload(frame).status == Status.STATUS_STORED
    assert ingest.backend.sweep(grace_s=0.0).removed == []  # a referenced blob is never swept


def test_the_sweep_spares_young_blobs(ingest: RunningIngest) -> None:
    ingest.backend.blobs.put(blob_key_for("e" * 64), b"in flight elsewhere")
    assert ingest.backend.sweep(grace_s=3600).removed == []
    assert ingest.backend.blobs.exists(blob_key_for("e" * 64))


# -- the backend killed mid-stream and restarted through the CLI --------------------------------


class BackendProcess:
    """``longtail backend serve`` as a subprocess."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.api = ""
        self.process: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "backend.cli", "backend", *args, "--config", str(self.config)],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        )
        return out.stdout.decode()

    def start(self, target: str) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "backend.cli",
                    "backend",
                    "serve",
                    "--config",
                    str(self.config),
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        with grpc.insecure_channel(target) as channel:
            grpc.channel_ready_future(channel).result(timeout=30)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def cleanup(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def backend_process(tmp_path: Path) -> Iterator[tuple[BackendProcess, str]]:
    port, api_port = free_port(), free_port()
    config = tmp_path / "backend.toml"
    config.write_text(
        f"[ingest]\nport = {port}\n[api]\nport = {api_port}\n"
        '[storage]\npath = "blobs"\nstaging_path = "staging"\n[metadata]\nurl = "sqlite:///meta.db"\n'
    )
    process = BackendProcess(config, tmp_path / "backend.log")
    process.api = f"http://127.0.0.1:{api_port}"
    try:
        yield process, f"127.0.0.1:{port}"
    finally:
        process.cleanup()


def wait_for_staged_bytes(staging: Path, deadline_s: float) -> int:
    """Size of the first staging file once it holds bytes (the server has written some)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        sizes = [part.stat().st_size for part in staging.rglob("*.part")]
        if sizes and max(sizes) > 0:
            return max(sizes)
        time.sleep(0.02)
    raise AssertionError(f"the server staged no bytes under {staging} in {deadline_s} s")


def test_backend_killed_mid_stream_and_restarted_loses_and_duplicates_nothing(
    backend_process: tuple[BackendProcess, str], tmp_path: Path
) -> None:
    backend, target = backend_process
    token = backend.cli("vehicles", "add", "car-1").strip()
    # an orphan left by an earlier crash: the start-up sweep removes it
    orphan = blob_key_for("d" * 64)
    LocalBlobStore(tmp_path / "blobs").put(orphan, b"orphan")
    backend.start(target)
    assert not LocalBlobStore(tmp_path / "blobs").exists(orphan)

    frame = make_frame("car-1", num_points=150_000, seed=45)
    channel = grpc.insecure_channel(target)
    client = IngestTestClient(channel, token)
    sent = [0]
    half, killed = threading.Event(), threading.Event()

    def stream() -> Iterator[ingest_pb2.UploadChunk]:
        for chunk in chunks(frame, chunk_bytes=32 * 1024, pause_s=0.01):
            yield chunk
            sent[0] = chunk.offset + len(chunk.data)
            if sent[0] > len(frame.payload) // 2:
                half.set()
                # hold the rest back until the kill: on a loaded machine the server may stage
                # nothing for a while, and the stream must still be open when it dies
                killed.wait(60)

    future = client.stub.Upload.future(stream(), metadata=client.auth, timeout=60)
    assert half.wait(30)
    staged = wait_for_staged_bytes(tmp_path / "staging", deadline_s=30)
    backend.kill()
    killed.set()
    with pytest.raises(grpc.RpcError) as info:
        future.result()
    assert rpc_code(info.value) in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}

    backend.start(target)
    committed = client.query(frame.frame_id).committed_offset
    assert 0 < staged <= committed <= sent[0] < len(frame.payload)
    assert client.upload(frame).status == Status.STATUS_STORED
    assert client.upload(frame).status == Status.STATUS_ALREADY_STORED
    channel.close()
    # the same process serves the HTTP API over the same metadata
    reader = backend.cli("people", "add", "ops", "--role", "safety_engineer").strip()
    headers = {"Authorization": f"Bearer {reader}"}
    frames = httpx.get(f"{backend.api}/frames", headers=headers, timeout=10).json()
    assert frames["total"] == 1 and frames["items"][0]["id"] == frame.frame_id
    assert httpx.get(f"{backend.api}/health", timeout=10).json()["status"] == "ok"
    assert backend.terminate() == 0  # SIGTERM: a clean shutdown

    config = local_config(tmp_path)
    blobs = LocalBlobStore(Path(config.storage.path))
    stored = [info.key for info in blobs.list("frames/")]
    assert stored == [blob_key_for(frame.frame_id)]
    assert hashlib.sha256(blobs.get(stored[0])).hexdigest() == frame.frame_id
    assert "car-1" in backend.cli("vehicles", "list")
    assert list((tmp_path / "staging").rglob("*.part")) == []
