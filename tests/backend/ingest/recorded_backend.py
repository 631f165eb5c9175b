"""A running ingest backend whose durable files lie under one directory for the crash recorder.

The blob directory and the staging area are ``data_root/blobs`` and ``data_root/staging``; the
SQLite file is elsewhere (its writes are C code the recorder cannot see). The metadata commit is
logged instead: every newly stored frame marks ``row <frame id>`` on the active recorder, through
the service's ``on_stored`` hook, which runs after the commit (durable: SQLite runs with
``synchronous=FULL``). A crash state's check then asks ``state.happened(row_mark(frame_id))``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc

from backend.ingest.auth import TokenAuthenticator
from backend.ingest.server import start_ingest_server
from backend.ingest.service import IngestService, blob_key_for
from backend.storage.local import LocalBlobStore
from backend.wiring import build_backend, local_config
from tests.fixtures.crash import CrashRecorder, CrashState


def row_mark(frame_id: str) -> str:
    """The mark logged when the frame's metadata row is committed."""
    return f"row {frame_id}"


@dataclass
class RecordedBackend:
    """The server's address, a vehicle token, and the recorder that receives row marks."""

    target: str
    token: str
    recorder: CrashRecorder | None = None

    def stored(self, frame_id: str) -> None:
        if self.recorder is not None:
            self.recorder.mark(row_mark(frame_id))


@contextmanager
def recorded_backend(
    data_root: Path, db_dir: Path, vehicle: str = "car-1"
) -> Iterator[RecordedBackend]:
    """Start the backend (before recording: its directories exist when the recorder starts)."""
    config = local_config(data_root, metadata_url=f"sqlite:///{db_dir / 'longtail.db'}")
    backend = build_backend(config)
    token = backend.add_vehicle(vehicle)
    running = RecordedBackend("", token)
    service = IngestService(
        authenticator=TokenAuthenticator(backend.db),
        db=backend.db,
        blobs=backend.blobs,
        staging=backend.staging,
        limits=backend.service.limits,
        on_stored=running.stored,
    )
    handle = start_ingest_server(service)
    running.target = handle.target
    try:
        yield running
    finally:
        handle.stop(grace_s=1.0)
        backend.close()


def channel_to(running: RecordedBackend) -> grpc.Channel:
    """An insecure channel to the recorded backend."""
    return grpc.insecure_channel(running.target)


def blob_holds(state: CrashState, blobs_dir: Path, frame_id: str, payload: bytes) -> bool:
    """Whether the crashed blob directory holds the frame's payload; asserts that what it holds
    under the frame's key is the whole payload (never a torn or wrong object)."""
    store = LocalBlobStore(blobs_dir)
    key = blob_key_for(frame_id)
    if not store.exists(key):
        return False
    assert store.get(key) == payload, f"{state.kind.value}: blob {key} is torn"
    return True
