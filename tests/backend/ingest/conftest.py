"""An in-process ingest server over loopback gRPC, with two registered vehicles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from backend.ingest.server import IngestServerHandle
from backend.storage.base import BlobStore
from backend.wiring import Backend, build_backend, local_config, start_ingest
from tests.backend.ingest.upload_client import IngestTestClient


@dataclass
class RunningIngest:
    """A backend with its gRPC server, channels and vehicle tokens."""

    backend: Backend
    handle: IngestServerHandle
    tokens: dict[str, str]
    channels: list[grpc.Channel] = field(default_factory=list)

    def client(self, vehicle: str | None = "car-1", token: str | None = None) -> IngestTestClient:
        """A client authenticated as ``vehicle`` (or with an explicit ``token``)."""
        channel = grpc.insecure_channel(self.handle.target)
        self.channels.append(channel)
        return IngestTestClient(
            channel, token if token is not None else self.tokens.get(vehicle or "")
        )

    def stop(self) -> None:
        """Close channels, stop the server, release the database."""
        for channel in self.channels:
            channel.close()
        self.handle.stop(grace_s=1.0)
        self.backend.close()


StartIngest = Callable[..., RunningIngest]


@pytest.fixture
def start_ingest_server(tmp_path: Path) -> Iterator[StartIngest]:
    """Start a backend under ``tmp_path``; keyword arguments: ``metadata_url``, ``blobs`` (a store
    to use instead of the local directory), ``staging`` (the staging directory) and any
    IngestConfig field (limits)."""
    running: list[RunningIngest] = []

    def start(
        *,
        metadata_url: str | None = None,
        blobs: BlobStore | None = None,
        staging: Path | None = None,
        **ingest: Any,
    ) -> RunningIngest:
        config = local_config(tmp_path / f"backend{len(running)}", metadata_url=metadata_url)
        config = replace(config, ingest=replace(config.ingest, **ingest))
        if staging is not None:
            config = replace(config, storage=replace(config.storage, staging_path=str(staging)))
        backend = build_backend(config, blobs=blobs)
        tokens = {name: backend.add_vehicle(name) for name in ("car-1", "car-2")}
        result = RunningIngest(backend, start_ingest(backend), tokens)
        running.append(result)
        return result

    try:
        yield start
    finally:
        for r in running:
            r.stop()


@pytest.fixture
def ingest(start_ingest_server: StartIngest) -> RunningIngest:
    """A backend with default limits on SQLite and a local blob directory."""
    return start_ingest_server()
