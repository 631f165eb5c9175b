"""Swapping the running model between two frames, without stopping or dropping one.

The update thread does everything slow off the frame path: ``prepare`` builds the new analyzer
(ONNX session, scoring statistics, kernels) from an installed package and checks that the
configured trigger rules compile against its signals; ``offer`` then publishes it. The pipeline
thread calls ``apply`` at each frame boundary: when a model is pending it replaces the pipeline's
analyzer and signal schema by reference (no copy, no wait), so the frame before ran entirely on
the old model and the frame after runs entirely on the new one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent.daemon.analysis import Analyzer
from agent.errors import AgentError, PackageRefusedError
from agent.metrics import AgentMetrics
from agent.selection.signals import SignalSchema
from core.errors import CoreError

log = logging.getLogger(__name__)

#: Builds the analyzer of the package in a directory (the daemon's ``perception.factory``).
AnalyzerBuilder = Callable[[Path], Analyzer]
#: The signal schema of an analyzer, after checking the trigger rules compile against it
#: (raises ConfigError naming the rule and the signal otherwise).
SchemaCheck = Callable[[Analyzer], SignalSchema]


class ModelSlot(Protocol):
    """Where the running model lives (``agent.daemon.pipeline.Pipeline``)."""

    @property
    def analyzer(self) -> Analyzer: ...

    def use_model(self, analyzer: Analyzer, schema: SignalSchema) -> None: ...


@dataclass(frozen=True)
class PreparedModel:
    """An analyzer built and checked, ready to be swapped in."""

    version: str
    digest: str
    analyzer: Analyzer
    schema: SignalSchema


class ModelSwapper:
    """Hands a prepared model from the update thread to the pipeline thread (see the module
    docstring). ``running_version`` is what analyses frames now."""

    def __init__(
        self,
        build: AnalyzerBuilder,
        check: SchemaCheck,
        metrics: AgentMetrics,
        running_version: str,
    ) -> None:
        self._build = build
        self._check = check
        self._metrics = metrics
        self._lock = threading.Lock()
        self._pending: PreparedModel | None = None
        self.running_version = running_version
        metrics.model_running.labels(version=running_version).set(1)

    @property
    def target_version(self) -> str:
        """The version frames will run on once a pending swap is applied."""
        pending = self._pending
        return pending.version if pending is not None else self.running_version

    def prepare(self, version: str, digest: str, package_dir: Path) -> PreparedModel:
        """Build and check the analyzer of ``package_dir`` (slow; call off the frame path).
        PackageRefusedError when it cannot be built or the rules do not fit its signals."""
        try:
            analyzer = self._build(package_dir)
        except (AgentError, CoreError) as exc:
            raise PackageRefusedError(version, f"analyzer cannot be built: {exc}") from exc
        if analyzer.model_version != version:
            raise PackageRefusedError(
                version, f"analyzer reports version {analyzer.model_version!r}"
            )
        try:
            schema = self._check(analyzer)
        except CoreError as exc:
            raise PackageRefusedError(
                version, f"trigger rules do not fit its signals: {exc}"
            ) from exc
        return PreparedModel(version, digest, analyzer, schema)

    def offer(self, prepared: PreparedModel) -> None:
        """Publish ``prepared``; the pipeline swaps it in before its next frame (a model still
        pending is replaced)."""
        with self._lock:
            self._pending = prepared
        log.info("model %s ready; swapping at the next frame boundary", prepared.version)

    def apply(self, slot: ModelSlot) -> str | None:
        """Pipeline thread, between two frames: swap in the pending model, if any; returns its
        version (None when nothing was pending)."""
        if self._pending is None:  # the common case: one attribute read per frame, no lock
            return None
        with self._lock:
            prepared, self._pending = self._pending, None
        if prepared is None:
            return None
        old = slot.analyzer.model_version
        slot.use_model(prepared.analyzer, prepared.schema)
        self.running_version = prepared.version
        self._metrics.model_swaps.inc()
        self._metrics.model_running.labels(version=old).set(0)
        self._metrics.model_running.labels(version=prepared.version).set(1)
        log.info("model swapped %s -> %s between frames", old, prepared.version)
        return prepared.version
