"""The pipeline thread (analysis → signals → selection → encoding → hand-off) and the spool writer.

Perception never waits on disk or network: the only thing the pipeline thread does with a kept
frame is ``HandOff.offer``, which never blocks; the spool writer thread does the fsyncs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from agent.daemon.analysis import Analysis, Analyzer
from agent.daemon.sources import SensorDescription, SourceFrame
from agent.metrics import AgentMetrics
from agent.selection.budget import SelectionBudget
from agent.selection.dedup import frame_embedding, trigger_place
from agent.selection.drivable import DrivableArea, drivable_signals
from agent.selection.rules import MANUAL_RULE, SAMPLE_RULE
from agent.selection.selector import Selection, Selector
from agent.selection.signals import SignalSchema, compute_signals
from agent.spool.handoff import HandOff
from agent.spool.record import SpoolRecord, frame_id_of
from agent.spool.spool import Spool
from agent.upload.worker import publish_spool_state
from longtail.v1 import frame_pb2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodedPayload:
    """An encoded frame and what the metadata says about its encoding."""

    data: bytes
    encoding: int  # frame_pb2.PointCloud.Encoding value
    num_points: int
    quantization_step_m: float


#: Encodes float32 (N, 4) points for transport (the daemon wires core.formats.codec).
Encoder = Callable[[npt.NDArray[np.float32]], EncodedPayload]


@dataclass(frozen=True)
class Candidate:
    """A frame after analysis: what the selector holds in its context ring, with the version of
    the model that analysed it (a context frame kept after a model swap keeps its own)."""

    frame: SourceFrame
    analysis: Analysis
    model_version: str = ""


class FrameHealth(Protocol):
    """Receives each analysed frame (``agent.updates.health.HealthRecorder``)."""

    def frame(self, version: str, latency_s: float, score: float, triggered: bool) -> None: ...

    def error(self, version: str) -> None: ...


def schema_for(
    analyzer: Analyzer, vehicle_signal_names: Iterable[str], drivable_area: bool = False
) -> SignalSchema:
    """The signals rules may name, given the analyzer, the source and whether a drivable-area
    map is configured."""
    return SignalSchema(
        class_names=tuple(analyzer.class_names),
        detection_score_names=tuple(analyzer.detection_score_names),
        frame_score_names=tuple(analyzer.frame_score_names),
        vehicle_signal_names=tuple(vehicle_signal_names),
        drivable_area=drivable_area,
    )


class Pipeline:
    """Processes frames one at a time on the calling thread."""

    def __init__(
        self,
        analyzer: Analyzer,
        schema: SignalSchema,
        selector: Selector[Candidate],
        budget: SelectionBudget,
        encoder: Encoder,
        handoff: HandOff[SpoolRecord],
        metrics: AgentMetrics,
        *,
        vehicle_id: str,
        sensor: SensorDescription,
        drivable: DrivableArea | None = None,
        health: FrameHealth | None = None,
    ) -> None:
        """``health`` (optional) is told of every analysed frame; the analyzer and schema can be
        replaced between frames with ``use_model`` (``agent.updates.swap``)."""
        self.analyzer = analyzer
        self.schema = schema
        self.selector = selector
        self.budget = budget
        self.encoder = encoder
        self.handoff = handoff
        self.metrics = metrics
        self.vehicle_id = vehicle_id
        self.sensor = sensor
        self.drivable = drivable
        self.health = health
        self.selected_count = 0
        self.frames_processed = 0

    def use_model(self, analyzer: Analyzer, schema: SignalSchema) -> None:
        """Run the following frames on ``analyzer`` with signals of ``schema`` (call between
        frames, from the thread that calls ``process``). The selector keeps its state: its
        rules were checked to compile against ``schema`` before the swap."""
        self.analyzer = analyzer
        self.schema = schema

    def process(self, frame: SourceFrame) -> list[SpoolRecord]:
        """Analyse, select and hand off one frame; returns the records handed off."""
        analyzer = self.analyzer  # one model per frame, whatever a swap does meanwhile
        started = time.perf_counter()
        analysis = analyzer.analyze(frame.points)
        analysed_s = time.perf_counter() - started
        for stage, seconds in analysis.timings_s.items():
            self.metrics.stage_seconds.labels(stage=stage).observe(seconds)
        started = time.perf_counter()
        signals = compute_signals(
            self.schema,
            analysis.detections,
            analysis.frame_scores,
            frame.vehicle,
            len(frame.points),
            drivable_signals(analysis.detections, frame.pose, self.drivable),
        )
        decision = self.selector.offer(
            Candidate(frame, analysis, analyzer.model_version),
            signals,
            frame.timestamp_ns / 1e9,
            embedding=frame_embedding(analysis.embeddings),
            frame_score=float(analysis.frame_scores.get("score", 0.0)),
            place=trigger_place(
                [(d.box[0], d.box[1]) for d in analysis.detections],
                [
                    -min((v for k, v in d.scores.items() if k.endswith("_tail")), default=1.0)
                    for d in analysis.detections
                ],
                frame.pose,
            ),
        )
        self.metrics.stage_seconds.labels(stage="selection").observe(time.perf_counter() - started)
        self.metrics.frames.inc()
        self.frames_processed += 1
        if self.health is not None:
            rules = set(decision.fired) - {MANUAL_RULE, SAMPLE_RULE}
            self.health.frame(
                analyzer.model_version,
                analysed_s,
                float(analysis.frame_scores.get("score", float("nan"))),
                bool(rules),
            )
        if decision.suppressed:
            self.metrics.suppressed.labels(reason=decision.suppressed).inc()
            log.info(
                "frame=%d rules=%s suppressed=%s",
                frame.index,
                ",".join(decision.fired),
                decision.suppressed,
            )
        return [r for s in decision.selections if (r := self._keep(s)) is not None]

    def _keep(self, selection: Selection[Candidate]) -> SpoolRecord | None:
        frame = selection.item.frame
        started = time.perf_counter()
        encoded = self.encoder(frame.points)
        self.metrics.stage_seconds.labels(stage="encode").observe(time.perf_counter() - started)
        if not self.budget.try_bytes(len(encoded.data), selection.priority):
            self.metrics.suppressed.labels(reason="bytes_budget").inc()
            log.info("frame=%d over the bytes budget (%d bytes)", frame.index, len(encoded.data))
            return None
        record = SpoolRecord(self._metadata(selection, encoded), encoded.data)
        for rule in selection.rules_fired:
            self.metrics.selections.labels(rule=rule).inc()
        dropped = self.handoff.offer(record, record.priority)
        if dropped is not None:
            self.metrics.handoff_drops.inc()
            log.warning("hand-off full: dropped frame_id=%s", dropped.frame_id)
        self.selected_count += 1
        log.info(
            "selected frame=%d frame_id=%s rules=%s priority=%.3f bytes=%d",
            frame.index,
            record.frame_id,
            ",".join(selection.rules_fired),
            selection.priority,
            len(encoded.data),
        )
        return record

    def _metadata(
        self, selection: Selection[Candidate], encoded: EncodedPayload
    ) -> frame_pb2.FrameMetadata:
        frame, analysis = selection.item.frame, selection.item.analysis
        meta = frame_pb2.FrameMetadata(
            frame_id=frame_id_of(encoded.data),
            vehicle_id=self.vehicle_id,
            timestamp_ns=frame.timestamp_ns,
            pose=frame_pb2.Pose(
                x=frame.pose[0],
                y=frame.pose[1],
                z=frame.pose[2],
                roll=frame.pose[3],
                pitch=frame.pose[4],
                yaw=frame.pose[5],
            ),
            sensor=frame_pb2.SensorInfo(
                name=self.sensor.name, beams=self.sensor.beams, max_range_m=self.sensor.max_range_m
            ),
            model_version=selection.item.model_version or self.analyzer.model_version,
            rules_fired=list(selection.rules_fired),
            priority=selection.priority,
            payload_size=len(encoded.data),
            encoding=encoded.encoding,  # type: ignore[arg-type]
            num_points=encoded.num_points,
            quantization_step_m=encoded.quantization_step_m,
        )
        for name, value in analysis.frame_scores.items():
            meta.frame_scores[name] = float(value)
        for det in analysis.detections:
            pb = meta.detections.add(
                class_name=det.class_name, confidence=det.confidence, num_points=det.num_points
            )
            x, y, z, length, width, height, yaw = det.box
            pb.box.CopyFrom(frame_pb2.Box3D(x=x, y=y, z=z, l=length, w=width, h=height, yaw=yaw))
            for name, value in det.scores.items():
                pb.scores[name] = float(value)
        return meta


def run_spool_writer(
    handoff: HandOff[SpoolRecord], spool: Spool, metrics: AgentMetrics, poll_s: float = 0.5
) -> None:
    """Move records from the hand-off into the spool until the hand-off is closed and empty."""
    while True:
        record = handoff.get(timeout=poll_s)
        if record is None:
            if handoff.closed and len(handoff) == 0:
                return
            continue
        started = time.perf_counter()
        result = spool.put(record)
        metrics.stage_seconds.labels(stage="spool_write").observe(time.perf_counter() - started)
        if not result.stored and result.reason not in ("", "duplicate"):
            log.error("frame_id=%s not spooled: %s", record.frame_id, result.reason)
        publish_spool_state(spool, metrics, time.time())
