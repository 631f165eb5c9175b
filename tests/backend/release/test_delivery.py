"""The ModelUpdates servicer over loopback gRPC on the real ingest server: assignments,
resumable downloads, health reports, and every refusal with its status code."""

from __future__ import annotations

import hashlib
import math
from functools import partial

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc_health.v1 import health_pb2, health_pb2_grpc

from backend.release.delivery import MAX_REASON, SERVICE_NAME
from core.formats.model_archive import key_fingerprint
from longtail.v1 import ingest_pb2, ingest_pb2_grpc, models_pb2, models_pb2_grpc
from tests.backend.release.fake_delivery import DeliveryServer, raw_public_key


def _stub(served: DeliveryServer) -> tuple[grpc.Channel, models_pb2_grpc.ModelUpdatesStub]:
    channel = grpc.insecure_channel(served.target)
    return channel, models_pb2_grpc.ModelUpdatesStub(channel)


def _auth(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def _drain(
    stub: models_pb2_grpc.ModelUpdatesStub,
    request: models_pb2.DownloadRequest,
    metadata: tuple[tuple[str, str], ...],
) -> list[models_pb2.DownloadChunk]:
    return list(stub.Download(request, metadata=metadata))


def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    error = caught.value
    assert isinstance(error, grpc.Call)
    return error.code()


def test_assignment_names_the_package_and_its_signing_key(
    served: DeliveryServer, archives: dict[str, bytes], release_key: Ed25519PrivateKey
) -> None:
    channel, stub = _stub(served)
    with channel:
        none = stub.GetAssignment(
            models_pb2.GetAssignmentRequest(current_version="v1"), metadata=_auth(served.token)
        )
        assert not none.assigned
        served.delivery.add("v2", archives["v2"], release_key)
        served.delivery.assign("car-1", "v2")
        got = stub.GetAssignment(
            models_pb2.GetAssignmentRequest(current_version="v1"), metadata=_auth(served.token)
        )
    assert got.assigned and got.version == "v2"
    assert got.digest == hashlib.sha256(archives["v2"]).hexdigest()
    assert got.size == len(archives["v2"])
    assert got.public_key_id == key_fingerprint(raw_public_key(release_key))
    assert len(got.signature) == 64


def test_download_streams_the_archive_from_any_offset(
    served: DeliveryServer, archives: dict[str, bytes], release_key: Ed25519PrivateKey
) -> None:
    served.delivery.add("v2", archives["v2"], release_key)
    served.delivery.assign("car-1", "v2")
    archive = archives["v2"]
    channel, stub = _stub(served)
    with channel:
        for offset in (0, 12_345, len(archive) - 1, len(archive)):
            chunks = list(
                stub.Download(
                    models_pb2.DownloadRequest(version="v2", offset=offset),
                    metadata=_auth(served.token),
                )
            )
            assert b"".join(c.data for c in chunks) == archive[offset:]
            assert all(c.size == len(archive) for c in chunks)
            positions = [c.offset for c in chunks]
            assert positions == sorted(positions) and (not chunks or positions[0] == offset)
        assert (
            len(
                list(
                    stub.Download(
                        models_pb2.DownloadRequest(version="v2"), metadata=_auth(served.token)
                    )
                )
            )
            > 1
        )


def test_download_refusals(
    served: DeliveryServer, archives: dict[str, bytes], release_key: Ed25519PrivateKey
) -> None:
    served.delivery.add("v2", archives["v2"], release_key)
    served.delivery.add("v3", archives["v3"], release_key)
    served.delivery.assign("car-1", "v2")
    channel, stub = _stub(served)

    def download(version: str, offset: int = 0) -> grpc.StatusCode:
        request = models_pb2.DownloadRequest(version=version, offset=offset)
        return _code(lambda: list(stub.Download(request, metadata=_auth(served.token))))

    with channel:
        assert download("v3") == grpc.StatusCode.FAILED_PRECONDITION  # not this car's
        assert download("v2", len(archives["v2"]) + 1) == grpc.StatusCode.OUT_OF_RANGE
        assert download("../etc") == grpc.StatusCode.INVALID_ARGUMENT
        served.delivery.served["v2"] = archives["v2"][:-10]  # the blob does not match the record
        assert download("v2") == grpc.StatusCode.DATA_LOSS
        served.delivery.outage = True
        assert download("v2") == grpc.StatusCode.UNAVAILABLE


def test_a_bad_token_gets_unauthenticated_on_every_rpc(
    served: DeliveryServer, archives: dict[str, bytes], release_key: Ed25519PrivateKey
) -> None:
    served.delivery.add("v2", archives["v2"], release_key)
    served.delivery.assign("car-1", "v2")
    channel, stub = _stub(served)
    with channel:
        for md in ((("authorization", "Bearer not-a-token"),), ()):
            request = models_pb2.DownloadRequest(version="v2")
            assignment = models_pb2.GetAssignmentRequest()
            report = models_pb2.HealthReport(version="v2")
            codes = [
                _code(partial(stub.GetAssignment, assignment, metadata=md)),
                _code(partial(_drain, stub, request, md)),
                _code(partial(stub.ReportHealth, report, metadata=md)),
            ]
            assert codes == [grpc.StatusCode.UNAUTHENTICATED] * 3, md
    assert served.delivery.reports == []


def test_health_reports_reach_the_rollout_and_bad_ones_are_refused(
    served: DeliveryServer,
) -> None:
    channel, stub = _stub(served)
    report = models_pb2.HealthReport(
        version="v2",
        frames=100,
        triggers=7,
        errors=1,
        latency_ms_p50=12.5,
        latency_ms_p99=40.0,
        score_mean=0.2,
        score_p95=0.7,
        refused_version="v3",
        refused_reason="signature does not verify",
    )
    with channel:
        stub.ReportHealth(report, metadata=_auth(served.token))
        long = models_pb2.HealthReport(
            version="v2", frames=1, refused_version="v3", refused_reason="x" * 5000
        )
        stub.ReportHealth(long, metadata=_auth(served.token))
        bad_refusal = models_pb2.HealthReport(version="v2", frames=1, refused_version="../v3")
        assert _code(lambda: stub.ReportHealth(bad_refusal, metadata=_auth(served.token))) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
        bad = models_pb2.HealthReport(version="v2", frames=1, latency_ms_p99=math.nan)
        assert _code(lambda: stub.ReportHealth(bad, metadata=_auth(served.token))) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
        more = models_pb2.HealthReport(version="v2", frames=1, triggers=2)
        assert _code(lambda: stub.ReportHealth(more, metadata=_auth(served.token))) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
        garbage: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            f"/{SERVICE_NAME}/ReportHealth"
        )
        assert _code(lambda: garbage(b"\xff\xff\xff", metadata=_auth(served.token))) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
    assert len(served.delivery.reports) == 2
    vehicle, got = served.delivery.reports[0]
    assert vehicle == "car-1"
    assert (got.version, got.frames, got.triggers, got.errors) == ("v2", 100, 7, 1)
    assert (got.latency_ms_p50, got.latency_ms_p99, got.score_mean, got.score_p95) == (
        12.5,
        40.0,
        0.2,
        0.7,
    )
    # the refusal travels with the report to the rollout, which records and judges it
    assert (got.refused_version, got.refused_reason) == ("v3", "signature does not verify")
    _, cut = served.delivery.reports[1]
    assert cut.refused_version == "v3" and cut.refused_reason == "x" * MAX_REASON


def test_ingest_and_model_updates_share_one_server(served: DeliveryServer) -> None:
    channel = grpc.insecure_channel(served.target)
    with channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in (SERVICE_NAME, "longtail.v1.Ingest"):
            status = health.Check(health_pb2.HealthCheckRequest(service=service)).status
            assert status == health_pb2.HealthCheckResponse.SERVING
        reply = ingest_pb2_grpc.IngestStub(channel).QueryOffset(
            ingest_pb2.QueryOffsetRequest(frame_id="0" * 64), metadata=_auth(served.token)
        )
    assert reply.committed_offset == 0 and not reply.stored
