"""The gRPC server around the service: health checking, reflection, TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from backend.wiring import build_backend, local_config, start_ingest
from tests.backend.ingest.conftest import RunningIngest
from tests.backend.ingest.upload_client import IngestTestClient, Status, make_frame, rpc_code


def test_health_reports_serving_and_not_serving_after_stop(ingest: RunningIngest) -> None:
    channel = grpc.insecure_channel(ingest.handle.target)
    ingest.channels.append(channel)
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "longtail.v1.Ingest"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as info:
        stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
    assert rpc_code(info.value) == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_ingest_service(ingest: RunningIngest) -> None:
    channel = grpc.insecure_channel(ingest.handle.target)
    ingest.channels.append(channel)
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
    )
    names = {s.name for reply in replies for s in reply.list_services_response.service}
    assert {"longtail.v1.Ingest", "grpc.health.v1.Health"} <= names


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_uploads_work_and_plaintext_clients_are_refused(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    config = local_config(tmp_path)
    config = replace(config, ingest=replace(config.ingest, tls_cert=str(cert), tls_key=str(key)))
    backend = build_backend(config)
    token = backend.add_vehicle("car-1")
    handle = start_ingest(backend)
    try:
        assert handle.tls
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(f"localhost:{handle.port}", credentials) as channel:
            frame = make_frame("car-1", seed=50)
            assert IngestTestClient(channel, token).upload(frame).status == Status.STATUS_STORED
        with grpc.insecure_channel(handle.target) as plain, pytest.raises(grpc.RpcError) as info:
            IngestTestClient(plain, token).query(frame.frame_id)
        assert rpc_code(info.value) == grpc.StatusCode.UNAVAILABLE
    finally:
        handle.stop(grace_s=1.0)
        backend.close()
