"""Model updates end to end over loopback gRPC with the real backend server: assignment,
download, verification, install, swap, rollback, resume after a server or vehicle restart,
refusal of tampered, unsigned and wrongly signed packages, and health reports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.errors import UpdateUnavailableError
from agent.perception.package import METADATA_FILE, ModelPackage, default_package_path
from agent.updates.install import CURRENT_FILE
from core.formats.model_archive import pack_package
from tests.agent.updates.vehicle import POLL_S, Vehicle
from tests.backend.release.conftest import make_package
from tests.backend.release.fake_delivery import DeliveryServer, raw_public_key

BASELINE = ModelPackage.load(default_package_path()).version
UNITS = "longtail_agent_model_updates_total"


@pytest.fixture
def vehicle(
    served: DeliveryServer, tmp_path: Path, release_key: Ed25519PrivateKey
) -> Iterator[Vehicle]:
    car = Vehicle.start(
        served.target, served.token, tmp_path / "models", raw_public_key(release_key)
    )
    try:
        yield car
    finally:
        car.close()


def test_assignment_download_install_swap_and_rollback(
    served: DeliveryServer,
    vehicle: Vehicle,
    archives: dict[str, bytes],
    release_key: Ed25519PrivateKey,
) -> None:
    models = vehicle.store.root
    assert vehicle.poll() == POLL_S and vehicle.version == BASELINE  # nothing assigned yet
    served.delivery.add("v2", archives["v2"], release_key)
    served.delivery.add("v3", archives["v3"], release_key)
    served.delivery.assign("car-1", "v2")

    delay = vehicle.worker.step()
    assert delay == POLL_S
    assert vehicle.version == BASELINE  # built and pending: frames switch at the next boundary
    assert vehicle.swapper.target_version == "v2"
    assert vehicle.swapper.apply(vehicle.slot) == "v2" and vehicle.version == "v2"
    assert ModelPackage.load(models / "v2").version == "v2"
    assert vehicle.store.current() is not None and vehicle.store.current().version == "v2"  # type: ignore[union-attr]
    assert not list((models / "staging").glob("*"))
    assert vehicle.client.bytes_received == len(archives["v2"])

    served.delivery.assign("car-1", "v3")
    vehicle.poll()
    pointer = vehicle.store.current()
    assert vehicle.version == "v3" and pointer is not None
    assert (pointer.version, pointer.previous) == ("v3", "v2")
    assert (models / "v2").is_dir() and (models / "v3").is_dir()  # the previous one stays

    received = vehicle.client.bytes_received
    served.delivery.assign("car-1", "v2")  # rollback: already on disk, nothing to download
    vehicle.poll()
    pointer = vehicle.store.current()
    assert vehicle.version == "v2" and pointer is not None
    assert (pointer.version, pointer.previous) == ("v2", "v3")
    assert vehicle.client.bytes_received == received
    assert vehicle.metric(UNITS, outcome="installed") == 2
    assert vehicle.metric(UNITS, outcome="activated") == 3
    assert vehicle.metric("longtail_agent_model_swaps_total") == 3
    assert vehicle.metric("longtail_agent_model_running", version="v2") == 1
    assert vehicle.metric("longtail_agent_model_running", version="v3") == 0


@pytest.fixture(scope="module")
def big_archive(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A package whose metadata carries 16 MiB of padding (a package holds only its own files):
    more than gRPC and the sockets buffer, so a server stopped after the first chunks cannot
    have sent it all."""
    package = make_package(tmp_path_factory.mktemp("big"), "v2")
    meta = json.loads((package / METADATA_FILE).read_text())
    meta["padding"] = np.random.default_rng(0).bytes(8 * 1024 * 1024).hex()
    (package / METADATA_FILE).write_text(json.dumps(meta))
    return pack_package(package)


def test_download_resumes_after_the_server_stops_mid_download(
    served: DeliveryServer,
    tmp_path: Path,
    big_archive: bytes,
    release_key: Ed25519PrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    served.delivery.add("v2", big_archive, release_key)
    served.delivery.assign("car-1", "v2")
    # no bandwidth-delay probing: the flow-control window stays small, so the server cannot
    # run far ahead of what the vehicle has written
    vehicle = Vehicle.start(
        served.target,
        served.token,
        tmp_path / "models",
        raw_public_key(release_key),
        options=(("grpc.http2.bdp_probe", 0),),
    )
    offer = vehicle.client.assignment(BASELINE)
    assert offer is not None
    part = vehicle.store.part_path("v2")
    chunks = 0

    def server_dies_after_two_chunks() -> bool:
        nonlocal chunks
        chunks += 1
        if chunks == 2:
            served.handle.stop(grace_s=0)
        return False

    try:
        with pytest.raises(UpdateUnavailableError, match="Download v2 at byte"):
            vehicle.client.download(offer, part, server_dies_after_two_chunks)
        held = part.stat().st_size
        assert 0 < held < offer.size
        assert part.read_bytes() == big_archive[:held]  # the part file keeps its bytes

        assert vehicle.poll() < POLL_S  # the server is down: back off, keep the bytes
        assert part.stat().st_size == held and vehicle.version == BASELINE
        served.restart()
        with caplog.at_level("INFO", logger="backend.release.delivery"):
            vehicle.poll_until_ok()
        assert vehicle.version == "v2"
        assert vehicle.client.bytes_received == offer.size  # no byte fetched twice
        assert f"downloads 'v2' from offset {held} of {offer.size}" in caplog.text
    finally:
        vehicle.close()


def test_a_restarted_vehicle_resumes_its_download(
    served: DeliveryServer,
    tmp_path: Path,
    archives: dict[str, bytes],
    release_key: Ed25519PrivateKey,
) -> None:
    served.delivery.add("v2", archives["v2"], release_key)
    served.delivery.assign("car-1", "v2")
    key = raw_public_key(release_key)
    first = Vehicle.start(served.target, served.token, tmp_path / "models", key)
    chunks = 0

    def stop_after_three_chunks() -> bool:  # SIGTERM while downloading
        nonlocal chunks
        chunks += 1
        return chunks >= 3

    assert first.poll(stop_after_three_chunks) == POLL_S
    first.close()
    part = first.store.part_path("v2")
    held = part.stat().st_size
    assert 0 < held < len(archives["v2"]) and first.version == BASELINE
    # a power cut in the middle of a write leaves a shorter prefix; resume must cope with it
    with part.open("r+b") as handle:
        handle.truncate(held - 1000)

    second = Vehicle.start(served.target, served.token, tmp_path / "models", key)
    try:
        second.poll_until_ok()
        assert second.version == "v2"
        assert second.client.bytes_received == len(archives["v2"]) - (held - 1000)
        third = Vehicle.start(served.target, served.token, tmp_path / "models", key)
        assert third.version == "v2"  # the next start runs the installed model
        third.close()
    finally:
        second.close()


@pytest.mark.parametrize(
    "case", ["tampered", "signed_by_another_key", "announced_other_key", "unsigned"]
)
def test_bad_packages_are_refused_reported_and_deleted(
    served: DeliveryServer,
    vehicle: Vehicle,
    archives: dict[str, bytes],
    release_key: Ed25519PrivateKey,
    case: str,
) -> None:
    archive = archives["v2"]
    other = Ed25519PrivateKey.generate()
    if case == "tampered":
        served.delivery.add("v2", archive, release_key)
        flipped = bytearray(archive)
        flipped[len(archive) // 2] ^= 0x40
        served.delivery.served["v2"] = bytes(flipped)
    elif case == "signed_by_another_key":
        served.delivery.add("v2", archive, release_key, signer=other)
    elif case == "announced_other_key":
        served.delivery.add("v2", archive, other)
    else:
        served.delivery.add("v2", archive, None)
    served.delivery.assign("car-1", "v2")
    vehicle.health.frame(BASELINE, 0.01, 0.3, False)

    assert vehicle.poll() == POLL_S
    assert vehicle.version == BASELINE and vehicle.swapper.target_version == BASELINE
    models = vehicle.store.root
    assert not (models / "v2").exists() and not (models / CURRENT_FILE).exists()
    assert not list((models / "staging").glob("*")), "the refused download is deleted"
    assert not list(models.glob(".*")), "nothing half-unpacked is left"
    assert vehicle.metric(UNITS, outcome="refused") == 1

    received = vehicle.client.bytes_received
    assert vehicle.poll() == POLL_S  # reports the refusal, does not fetch it again
    assert vehicle.client.bytes_received == received
    name, report = served.delivery.reports[-1]
    assert name == "car-1" and report.refused_version == "v2" and report.refused_reason
    assert vehicle.version == BASELINE


def test_health_is_reported_and_kept_while_the_server_is_down(
    served: DeliveryServer, vehicle: Vehicle
) -> None:
    for i in range(10):
        vehicle.health.frame(BASELINE, 0.010 + 0.001 * i, i / 10, triggered=i % 5 == 0)
    vehicle.health.error(BASELINE)
    served.handle.stop(grace_s=0)
    assert vehicle.poll() < POLL_S
    for _ in range(10):
        vehicle.health.frame(BASELINE, 0.030, 1.0, triggered=True)
    served.restart()
    vehicle.poll_until_ok()
    assert len(served.delivery.reports) == 1
    car, report = served.delivery.reports[0]
    assert car == "car-1" and report.version == BASELINE
    assert (report.frames, report.triggers, report.errors) == (20, 12, 1)
    latencies = [10.0 + i for i in range(10)] + [30.0] * 10
    scores = [i / 10 for i in range(10)] + [1.0] * 10
    assert report.latency_ms_p50 == pytest.approx(
        sorted(latencies)[9] / 2 + sorted(latencies)[10] / 2
    )
    assert report.latency_ms_p99 == pytest.approx(30.0)
    assert report.score_mean == pytest.approx(sum(scores) / 20)
    assert report.score_p95 == pytest.approx(1.0)
    vehicle.poll()
    assert len(served.delivery.reports) == 1  # nothing new ran: nothing to report


def test_a_bad_token_is_unauthenticated(
    served: DeliveryServer, tmp_path: Path, release_key: Ed25519PrivateKey
) -> None:
    car = Vehicle.start(served.target, "wrong", tmp_path / "models", raw_public_key(release_key))
    try:
        with pytest.raises(UpdateUnavailableError, match="UNAUTHENTICATED"):
            car.client.assignment(BASELINE)
        assert car.poll() < POLL_S
        assert car.metric(UNITS, outcome="unavailable") == 1
    finally:
        car.close()
