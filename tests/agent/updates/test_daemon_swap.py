"""The daemon swaps models between two frames: a live source streams frames while the update
thread downloads, verifies and installs a new package from the real backend; every frame is
processed and uploaded, and the frames after the swap carry the new model's version."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import load_config
from agent.daemon.app import Daemon, build_analyzer, startup_analyzer
from agent.daemon.sources import SensorDescription, SourceFrame
from agent.metrics import AgentMetrics
from agent.perception.package import ModelPackage, default_package_path
from agent.updates.install import ModelStore
from tests.agent.daemon.drive import frame_points
from tests.backend.metadata.queries import all_frames
from tests.backend.release.conftest import make_package
from tests.backend.release.fake_delivery import DeliveryServer, raw_public_key

#: gates of the running sources, by name: a source waits on its gate halfway through
GATES: dict[str, threading.Event] = {}
HALF = 15


class GatedSource:
    """``2 * HALF`` distinct frames; after the first ``HALF`` it waits for its gate (the test
    opens it once the new model is ready), so the swap falls inside the stream."""

    vehicle_signal_names: tuple[str, ...] = ()

    def __init__(self, gate: str) -> None:
        self.sensor = SensorDescription("sim", 16, 50.0)
        self.gate = GATES[gate]

    def frames(self) -> Iterator[SourceFrame]:
        for i in range(2 * HALF):
            if i == HALF:
                assert self.gate.wait(30), "the test never opened the gate"
            yield SourceFrame(
                index=i, timestamp_ns=i * 100_000_000, points=frame_points(i, False, 200)
            )

    def close(self) -> None:
        self.gate.set()


def make_gated_source(gate: str) -> GatedSource:
    """The ``source.factory`` entry point."""
    return GatedSource(gate)


def _config(tmp_path: Path, served: DeliveryServer, key: Ed25519PrivateKey, gate: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""
[vehicle]
id = "car-1"
token = "{served.token}"
[source]
kind = "factory"
factory = "tests.agent.updates.test_daemon_swap:make_gated_source"
options = {{ gate = "{gate}" }}
[perception]
factory = "tests.agent.updates.fakes:make_package_analyzer"
[selection]
frames_per_hour = 1000000
pre_frames = 0
post_frames = 0
sample_rate = 0
dedup_similarity = 2
seed = 5
[[selection.rules]]
name = "every_frame"
when = "num_points > 0"
[spool]
dir = "spool"
durable = false
[upload]
endpoint = "{served.target}"
backoff_base_s = 0.05
backoff_cap_s = 0.2
[updates]
public_key = "{raw_public_key(key).hex()}"
poll_interval_s = 1
models_dir = "models"
[metrics]
port = 0
[daemon]
exit_when_done = true
"""
    )
    return path


def test_frames_stream_through_a_model_swap_without_a_drop(
    served: DeliveryServer,
    tmp_path: Path,
    archives: dict[str, bytes],
    release_key: Ed25519PrivateKey,
) -> None:
    baseline = ModelPackage.load(default_package_path()).version
    served.delivery.add("v2", archives["v2"], release_key)
    served.delivery.assign("car-1", "v2")
    GATES["swap"] = threading.Event()
    metrics = AgentMetrics()
    daemon = Daemon(load_config(_config(tmp_path, served, release_key, "swap")), metrics)
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(daemon.run()))
    runner.start()
    try:
        deadline = time.monotonic() + 30
        activated = "longtail_agent_model_updates_total"
        while not metrics.registry.get_sample_value(activated, {"outcome": "activated"}):
            assert time.monotonic() < deadline and runner.is_alive(), "the update never landed"
            time.sleep(0.02)
        GATES["swap"].set()
        runner.join(60)
    finally:
        daemon.request_stop()
        GATES["swap"].set()
        runner.join(10)
    assert result == [0]
    assert metrics.registry.get_sample_value("longtail_agent_frames_total") == 2 * HALF
    assert metrics.registry.get_sample_value("longtail_agent_model_swaps_total") == 1
    stored = sorted(all_frames(served.backend.db), key=lambda f: f.captured_at_ns)
    assert [f.captured_at_ns for f in stored] == [i * 100_000_000 for i in range(2 * HALF)]
    assert [f.model_version for f in stored] == [baseline] * HALF + ["v2"] * HALF
    pointer = ModelStore(tmp_path / "models", raw_public_key(release_key)).current()
    assert pointer is not None and pointer.version == "v2"
    # every frame reaches the rollout's health figures, the last ones in the report sent on exit
    frames = {baseline: 0, "v2": 0}
    for vehicle, report in served.delivery.reports:
        assert vehicle == "car-1"
        frames[report.version] += report.frames
    assert frames == {baseline: HALF, "v2": HALF}


def test_a_restarted_daemon_runs_the_installed_model_with_the_real_runtime(
    tmp_path: Path, archives: dict[str, bytes], release_key: Ed25519PrivateKey
) -> None:
    """``startup_analyzer`` with the production factory (ONNX + scoring): the installed package,
    and the configured one when the installed package does not load."""
    key = raw_public_key(release_key)
    config = load_config(
        None,
        {"LONGTAIL_UPDATES__PUBLIC_KEY": key.hex(), "LONGTAIL_PERCEPTION__DEVICE": "cpu"},
        require_token=False,
        require_source=False,
    )
    store = ModelStore(tmp_path / "models", key)
    make_package(store.root, "v2")
    store.activate("v2", "0" * 64)
    assert startup_analyzer(config, store).model_version == "v2"
    (store.package_dir("v2") / "model.onnx").write_bytes(b"not a graph")
    assert startup_analyzer(config, store).model_version == build_analyzer(config).model_version
