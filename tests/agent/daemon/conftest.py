"""Fixtures of the daemon tests: a real ingest server on loopback for the agent to upload to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.wiring import Backend, build_backend, local_config, start_ingest


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[tuple[Backend, str, str]]:
    """A local-storage backend serving ingest on loopback: (backend, target, car-1's token)."""
    built = build_backend(local_config(tmp_path / "backend"))
    token = built.add_vehicle("car-1")
    server = start_ingest(built)
    try:
        yield built, server.target, token
    finally:
        server.stop(grace_s=0.5)
        built.close()
