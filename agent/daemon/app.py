"""The composition root: builds every component from the config and runs the daemon's threads.

Threads: ``pipeline`` (source → analysis → selection → hand-off), ``spool-writer`` (hand-off →
spool) and ``uploader`` (spool → backend). A stop request (SIGTERM/SIGINT) lets the pipeline
finish its current frame; the writer then drains the hand-off into the spool, the uploader ends
its current stream (the server keeps the committed prefix), and the process exits 0.

When the source has no more frames, a recorded drive (``source.kind = "replay"``) ends the
daemon once the spool is uploaded; a live ``factory`` source keeps it running until stopped.
``daemon.exit_when_done`` overrides either (``AgentConfig.exits_when_source_ends``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import grpc
import numpy as np
import numpy.typing as npt

from agent.config import AgentConfig, SelectionConfig
from agent.daemon.analysis import Analyzer
from agent.daemon.pipeline import (
    Candidate,
    EncodedPayload,
    Encoder,
    Pipeline,
    run_spool_writer,
    schema_for,
)
from agent.daemon.sources import ReplayReport, Source, load_factory, open_replay
from agent.errors import AgentError
from agent.metrics import AgentMetrics
from agent.selection.budget import SelectionBudget
from agent.selection.dedup import NearDuplicateFilter, PlaceFilter
from agent.selection.drivable import load_drivable_area
from agent.selection.manual import ManualTrigger
from agent.selection.rules import Mode, RuleSpec, compile_rules
from agent.selection.selector import Selector, WindowSpec
from agent.selection.signals import SignalSchema
from agent.spool.handoff import HandOff
from agent.spool.record import SpoolRecord
from agent.spool.spool import Spool
from agent.updates.client import ModelUpdatesClient
from agent.updates.health import HealthRecorder
from agent.updates.install import ModelStore
from agent.updates.swap import ModelSwapper
from agent.updates.worker import UpdateWorker
from agent.upload.backoff import Backoff, BandwidthLimiter
from agent.upload.client import IngestClient, make_channel
from agent.upload.worker import UploadWorker, publish_spool_state
from core.errors import ConfigError, CoreError
from core.formats.codec import encode_frame, peek_header

log = logging.getLogger(__name__)

#: Seconds a stop waits for an upload in flight before cancelling it.
UPLOAD_GRACE_S = 5.0


def build_analyzer(config: AgentConfig, package: Path | None = None) -> Analyzer:
    """Call ``perception.factory`` with the perception config; ``package`` (an installed model
    update) replaces ``perception.package``, with the scoring statistics of that package."""
    factory = load_factory(config.perception.factory, "perception.factory")
    perception = config.perception
    if package is not None:
        perception = replace(perception, package=str(package), scoring_stats="")
    return factory(perception)  # type: ignore[no-any-return]


def startup_analyzer(config: AgentConfig, store: ModelStore | None) -> Analyzer:
    """The model of the ``current`` pointer when updates are on and it loads, else the
    configured one (a current package that fails to load is logged, not fatal)."""
    current = store.current_package() if store is not None else None
    if current is not None:
        try:
            return build_analyzer(config, current)
        except (AgentError, CoreError) as exc:
            log.error(
                "installed model %s does not load, using the configured one: %s", current, exc
            )
    return build_analyzer(config)


def build_source(config: AgentConfig, sleep: Callable[[float], bool]) -> Source:
    """The replay source, or whatever ``source.factory`` returns for ``source.kind = "factory"``."""
    if config.source.kind == "replay":
        try:
            return open_replay(
                Path(config.source.path),
                rate=config.source.rate,
                rate_hz=config.source.rate_hz,
                sleep=sleep,
            )
        except (AgentError, CoreError) as exc:
            raise ConfigError(f"source.path: {exc}") from exc
    factory = load_factory(config.source.factory, "source.factory")
    return factory(**config.source.options)  # type: ignore[no-any-return]


def rule_specs(config: SelectionConfig) -> list[RuleSpec]:
    """The configured rules as specs (modes were validated against ``Mode`` by the config)."""
    return [
        RuleSpec(r.name, r.when, cast(Mode, r.mode), r.min_interval_s, r.priority)
        for r in config.rules
    ]


def build_selector(
    config: SelectionConfig,
    schema: SignalSchema,
    clock: Callable[[], float],
    rng: random.Random,
    manual: ManualTrigger,
) -> tuple[Selector[Candidate], SelectionBudget]:
    """Compile the rules against ``schema`` (ConfigError names the rule and column)."""
    rules = compile_rules(rule_specs(config), schema.names())
    budget = SelectionBudget(
        config.frames_per_hour,
        config.bytes_per_day,
        clock,
        reserve_fraction=config.reserve_fraction,
        reserve_below_priority=config.reserve_below_priority,
    )
    selector: Selector[Candidate] = Selector(
        rules,
        budget,
        NearDuplicateFilter(config.dedup_similarity, config.dedup_window_s),
        manual,
        window=WindowSpec(config.pre_frames, config.post_frames, config.context_stride),
        sample_rate=config.sample_rate,
        sample_priority=config.sample_priority,
        rng=rng,
        places=PlaceFilter(config.dedup_place_radius_m, config.dedup_window_s),
    )
    return selector, budget


def codec_encoder(quantization_step_m: float) -> Encoder:
    """The transport codec; ``quantization_step_m = 0`` is lossless."""
    step = quantization_step_m or None

    def encode(points: npt.NDArray[np.float32]) -> EncodedPayload:
        data = encode_frame(points, quantization_step_m=step)
        header = peek_header(data)
        return EncodedPayload(
            data, int(header.encoding), header.num_points, header.quantization_step_m
        )

    return encode


class Daemon:
    """``longtail-agent run``: construct with a validated config, then ``run()`` (blocking)."""

    def __init__(self, config: AgentConfig, metrics: AgentMetrics | None = None) -> None:
        self.config = config
        self.metrics = metrics if metrics is not None else AgentMetrics()
        self.stop_event = threading.Event()
        manual_file = config.selection.manual_trigger_file
        self.manual = ManualTrigger(Path(manual_file) if manual_file else None)
        self._failed = False
        self._replay_exit = 0  # a replay that skipped frames, or read none (ReplayReport)

    def request_stop(self) -> None:
        """Signal-handler safe: finish the current frame, then shut down."""
        self.stop_event.set()

    def _sleep(self, seconds: float) -> bool:
        return self.stop_event.wait(seconds)

    def run(self) -> int:
        """Run until stopped or, when ``AgentConfig.exits_when_source_ends``, until the source
        ends and the spool is empty. Returns the process exit code. Raises AgentError for
        start-up errors."""
        cfg = self.config
        exit_when_done = cfg.exits_when_source_ends()
        updating = cfg.updates_active()
        store = (
            ModelStore(Path(cfg.updates.models_dir), cfg.update_public_key()) if updating else None
        )
        analyzer = startup_analyzer(cfg, store)
        source = build_source(cfg, self._sleep)
        drivable = (
            load_drivable_area(cfg.selection.drivable_area_file)
            if cfg.selection.drivable_area_file
            else None
        )
        schema = schema_for(analyzer, source.vehicle_signal_names, drivable is not None)
        seed = cfg.selection.seed or None
        selector, budget = build_selector(
            cfg.selection, schema, time.monotonic, random.Random(seed), self.manual
        )
        spool = Spool.open(Path(cfg.spool.dir), cfg.spool.max_bytes, durable=cfg.spool.durable)
        publish_spool_state(spool, self.metrics, time.time())
        handoff: HandOff[SpoolRecord] = HandOff(cfg.spool.handoff_capacity)
        health = HealthRecorder(rng=random.Random(seed)) if updating else None
        pipeline = Pipeline(
            analyzer,
            schema,
            selector,
            budget,
            codec_encoder(cfg.selection.quantization_step_m),
            handoff,
            self.metrics,
            vehicle_id=cfg.vehicle.id,
            sensor=source.sensor,
            drivable=drivable,
            health=health,
        )
        swapper = None
        if store is not None:

            def check(new: Analyzer) -> SignalSchema:
                new_schema = schema_for(new, source.vehicle_signal_names, drivable is not None)
                compile_rules(rule_specs(cfg.selection), new_schema.names())
                return new_schema

            swapper = ModelSwapper(
                lambda package: build_analyzer(cfg, package),
                check,
                self.metrics,
                analyzer.model_version,
            )
        stop_metrics = None
        if cfg.metrics.port:
            try:
                stop_metrics = self.metrics.serve(cfg.metrics.host, cfg.metrics.port)
            except OSError as exc:
                raise ConfigError(
                    f"metrics.port {cfg.metrics.host}:{cfg.metrics.port}: cannot listen: {exc}"
                ) from exc
        log.info(
            "agent started vehicle=%s model=%s rules=%s spool_frames=%d",
            cfg.vehicle.id,
            analyzer.model_version,
            ",".join(r.name for r in cfg.selection.rules),
            spool.frames,
        )
        writer = self._thread("spool-writer", run_spool_writer, handoff, spool, self.metrics)
        producer = self._thread(
            "pipeline", self._produce, pipeline, source, handoff, spool, exit_when_done, swapper
        )
        channel: grpc.Channel | None = None
        uploader: threading.Thread | None = None
        if cfg.upload.enabled:
            channel, worker = self._build_uploader(spool)
            uploader = self._thread(
                "uploader",
                worker.run,
                self.stop_event.is_set,
                # without exit_when_done the uploader keeps polling until told to stop
                lambda: exit_when_done and not writer.is_alive(),
            )
        updates_channel: grpc.Channel | None = None
        updater: threading.Thread | None = None
        update_worker: UpdateWorker | None = None
        if store is not None and swapper is not None and health is not None:
            updates_channel, update_worker = self._build_updates(store, swapper, health)
            updater = self._thread("updates", update_worker.run, self.stop_event.is_set)
        try:
            self._wait(exit_when_done, producer, writer, uploader)
        finally:
            self.stop_event.set()
            source.close()  # a live source blocked waiting for its next frame must return
            for thread in (producer, writer):
                thread.join()
            if update_worker is not None:
                update_worker.final_report()
            if updates_channel is not None:
                updates_channel.close()  # ends a download in flight; its part file resumes
            if updater is not None:
                updater.join()
            if uploader is not None:
                # a throttled stream ends at once on stop; give an unthrottled one a moment
                uploader.join(timeout=min(cfg.upload.timeout_s, UPLOAD_GRACE_S))
            if channel is not None:
                channel.close()  # cancels a stream still in flight; the server keeps its prefix
            if uploader is not None:
                uploader.join()
            if stop_metrics is not None:
                stop_metrics()
        log.info("agent stopped spool_frames=%d spool_bytes=%d", spool.frames, spool.bytes)
        return 1 if self._failed else self._replay_exit

    def _build_uploader(self, spool: Spool) -> tuple[grpc.Channel, UploadWorker]:
        up = self.config.upload
        ca = Path(up.ca_file) if up.ca_file else None
        channel = make_channel(up.endpoint, ca)
        rate = up.bandwidth_bytes_per_s or float("inf")
        # burst of a quarter second (at least one chunk) keeps the cap smooth at chunk granularity
        burst = max(float(up.chunk_bytes), rate / 4.0) if rate != float("inf") else 1.0
        limiter = BandwidthLimiter(rate, burst, time.monotonic, self._sleep)
        client = IngestClient(
            channel,
            self.config.token(),
            limiter,
            chunk_bytes=up.chunk_bytes,
            timeout_s=up.timeout_s,
        )
        seed = self.config.selection.seed or None
        backoff = Backoff(up.backoff_base_s, up.backoff_cap_s, random.Random(seed))
        return channel, UploadWorker(spool, client, backoff, self._sleep, self.metrics)

    def _build_updates(
        self, store: ModelStore, swapper: ModelSwapper, health: HealthRecorder
    ) -> tuple[grpc.Channel, UpdateWorker]:
        """The update loop, on a channel of its own to the upload endpoint."""
        cfg = self.config
        up = cfg.upload
        channel = make_channel(up.endpoint, Path(up.ca_file) if up.ca_file else None)
        client = ModelUpdatesClient(channel, cfg.token(), timeout_s=up.timeout_s)
        backoff = Backoff(
            up.backoff_base_s, up.backoff_cap_s, random.Random(cfg.selection.seed or None)
        )
        worker = UpdateWorker(
            client,
            store,
            swapper,
            health,
            backoff,
            self._sleep,
            self.metrics,
            poll_interval_s=cfg.updates.poll_interval_s,
        )
        return channel, worker

    def _produce(
        self,
        pipeline: Pipeline,
        source: Source,
        handoff: HandOff[SpoolRecord],
        spool: Spool,
        exit_when_done: bool,
        swapper: ModelSwapper | None = None,
    ) -> None:
        try:
            for frame in source.frames():
                if swapper is not None:
                    swapper.apply(pipeline)  # a model update takes effect between two frames
                try:
                    pipeline.process(frame)
                except (AgentError, CoreError) as exc:
                    # one bad frame (e.g. scoring refused its inputs) must not stop the vehicle
                    log.error("frame=%d skipped: %s", frame.index, exc)
                    if pipeline.health is not None:
                        pipeline.health.error(pipeline.analyzer.model_version)
                if self.stop_event.is_set():
                    break
            if self.stop_event.is_set():
                then = "stopping"
            elif not exit_when_done:
                then = "still running until SIGTERM (daemon.exit_when_done = false)"
            elif self.config.upload.enabled:
                then = "exiting once the spool is uploaded"
            else:
                then = "exiting"
            log.info(
                "source finished frames=%d selected=%d spool_frames=%d; %s",
                pipeline.frames_processed,
                pipeline.selected_count,
                spool.frames + len(handoff),
                then,
            )
            report = getattr(source, "report", None)
            if isinstance(report, ReplayReport) and not self.stop_event.is_set():
                self._replay_exit = report.exit_code()
                if self._replay_exit:
                    log.error("replay %s", report.summary())
        finally:
            handoff.close()

    def _thread(self, name: str, target: Callable[..., None], *args: Any) -> threading.Thread:
        def guarded() -> None:
            try:
                target(*args)
            except Exception:
                log.exception("thread %s failed; stopping the agent", name)
                self._failed = True
                self.stop_event.set()

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        return thread

    def _wait(self, exit_when_done: bool, *threads: threading.Thread | None) -> None:
        # The main thread only waits, in short slices so that signal handlers run promptly.
        while not self.stop_event.is_set():
            finished = all(t is None or not t.is_alive() for t in threads)
            if finished and exit_when_done:
                return
            self.stop_event.wait(0.2)
