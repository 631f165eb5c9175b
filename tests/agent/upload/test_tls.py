"""TLS when configured: the client verifies the server against the configured CA file."""

from __future__ import annotations

import math
import subprocess
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from agent.selection.budget import monotonic_clock
from agent.upload.backoff import BandwidthLimiter
from agent.upload.client import Delivered, IngestClient, TransientUploadError, make_channel
from core.errors import ConfigError
from longtail.v1 import ingest_pb2_grpc
from tests.agent.spool.helpers import make_record
from tests.agent.upload.fake_ingest import FakeIngest


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return key, cert


def test_upload_over_tls_and_refusal_of_an_unknown_ca(tmp_path: Path) -> None:
    key, cert = self_signed(tmp_path, "server")
    _, other_ca = self_signed(tmp_path, "other")
    servicer = FakeIngest()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    ingest_pb2_grpc.add_IngestServicer_to_server(servicer, server)
    creds = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    port = server.add_secure_port("localhost:0", creds)
    server.start()
    limiter = BandwidthLimiter(math.inf, 1.0, monotonic_clock(), lambda _s: False)
    try:
        good = make_channel(f"localhost:{port}", cert)
        record = make_record()
        assert IngestClient(good, "secret", limiter).upload(record) is Delivered.STORED
        good.close()
        wrong = make_channel(f"localhost:{port}", other_ca)
        with pytest.raises(TransientUploadError, match="UNAVAILABLE"):
            IngestClient(wrong, "secret", limiter, timeout_s=3).upload(make_record())
        wrong.close()
    finally:
        server.stop(None)
    with pytest.raises(ConfigError, match=r"upload\.ca_file .*missing\.pem: cannot read"):
        make_channel("localhost:1", tmp_path / "missing.pem")
