"""One vehicle's update machinery (client, store, swapper, health, worker) wired against a real
server, as the daemon wires it; a new ``Vehicle`` on the same directory is a restarted process."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from agent.metrics import AgentMetrics
from agent.perception.package import default_package_path
from agent.selection.signals import SignalSchema
from agent.updates.client import ModelUpdatesClient
from agent.updates.health import HealthRecorder
from agent.updates.install import ModelStore
from agent.updates.swap import ModelSwapper
from agent.updates.worker import UpdateWorker
from agent.upload.backoff import Backoff
from tests.agent.updates.fakes import PackageAnalyzer, Slot

POLL_S = 60.0


@dataclass
class Vehicle:
    channel: grpc.Channel
    client: ModelUpdatesClient
    store: ModelStore
    slot: Slot
    swapper: ModelSwapper
    health: HealthRecorder
    metrics: AgentMetrics
    worker: UpdateWorker

    @classmethod
    def start(
        cls,
        target: str,
        token: str,
        models: Path,
        public_key: bytes,
        options: tuple[tuple[str, int], ...] = (),
    ) -> Vehicle:
        channel = grpc.insecure_channel(target, options=options)
        client = ModelUpdatesClient(channel, token, timeout_s=10.0)
        store = ModelStore(models, public_key)
        current = store.current_package()
        slot = Slot(PackageAnalyzer(current or default_package_path()))
        metrics = AgentMetrics()

        def schema(analyzer: object) -> SignalSchema:
            assert isinstance(analyzer, PackageAnalyzer)
            return SignalSchema(class_names=analyzer.class_names)

        swapper = ModelSwapper(PackageAnalyzer, schema, metrics, slot.analyzer.model_version)
        health = HealthRecorder(rng=random.Random(3))
        worker = UpdateWorker(
            client,
            store,
            swapper,
            health,
            Backoff(0.01, 0.05, random.Random(3)),
            lambda _s: False,
            metrics,
            poll_interval_s=POLL_S,
        )
        return cls(channel, client, store, slot, swapper, health, metrics, worker)

    @property
    def version(self) -> str:
        return str(self.slot.analyzer.model_version)

    def poll(self, should_stop: Callable[[], bool] = lambda: False) -> float:
        """One poll, then the frame boundary where a prepared model is swapped in."""
        delay = self.worker.step(should_stop)
        self.swapper.apply(self.slot)
        return delay

    def poll_until_ok(self, timeout_s: float = 15.0) -> None:
        """Poll until a poll succeeds (the channel reconnects to a restarted server)."""
        deadline = time.monotonic() + timeout_s
        while self.poll() != POLL_S:
            assert time.monotonic() < deadline, "the update poll kept failing"
            time.sleep(0.05)

    def metric(self, name: str, **labels: str) -> float:
        got = self.metrics.registry.get_sample_value(name, labels or None)
        return 0.0 if got is None else got

    def close(self) -> None:
        self.channel.close()
