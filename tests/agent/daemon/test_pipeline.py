"""The pipeline thread's work, one frame at a time, with the hand-off left undrained."""

from __future__ import annotations

import random
from pathlib import Path

from agent.config import load_config
from agent.daemon.app import build_selector, codec_encoder
from agent.daemon.pipeline import Pipeline, schema_for
from agent.daemon.sources import SensorDescription, SourceFrame
from agent.metrics import AgentMetrics
from agent.selection.manual import ManualTrigger
from agent.spool.handoff import HandOff
from agent.spool.record import SpoolRecord, frame_id_of
from core.formats.codec import decode_frame
from tests.agent.daemon.drive import frame_points
from tests.agent.daemon.fakes import IntensityAnalyzer
from tests.agent.test_config import MINIMAL


def make_pipeline(
    handoff: HandOff[SpoolRecord], tmp_path: Path, bytes_per_day: float = 1e12
) -> Pipeline:
    path = tmp_path / "agent.toml"
    path.write_text(
        MINIMAL
        + f"""
[selection]
sample_rate = 0.0
bytes_per_day = {bytes_per_day}
reserve_fraction = 0.0
quantization_step_m = 0.0
[[selection.rules]]
name = "vru_unsure"
when = "min_confidence.pedestrian < 0.5"
"""
    )
    config = load_config(path, environ={})
    analyzer = IntensityAnalyzer()
    schema = schema_for(analyzer, ())
    selector, budget = build_selector(
        config.selection, schema, lambda: 0.0, random.Random(1), ManualTrigger(None)
    )
    return Pipeline(
        analyzer,
        schema,
        selector,
        budget,
        codec_encoder(0.0),
        handoff,
        AgentMetrics(),
        vehicle_id="car-9",
        sensor=SensorDescription("s", 1, 2.0),
    )


def frame(i: int, hot: bool) -> SourceFrame:
    return SourceFrame(i, i * 100_000_000, frame_points(i, hot, 300))


def test_kept_frames_are_encoded_losslessly_and_identified_by_hash(tmp_path: Path) -> None:
    handoff: HandOff[SpoolRecord] = HandOff(10)
    pipeline = make_pipeline(handoff, tmp_path)
    src = frame(0, True)
    (record,) = pipeline.process(src)
    assert record.frame_id == frame_id_of(record.payload)
    assert (decode_frame(record.payload) == src.points).all()
    assert record.metadata.vehicle_id == "car-9"
    assert record.metadata.encoding == 1  # lossless
    assert pipeline.process(frame(1, False)) == []
    assert len(handoff) == 1


def test_overload_drops_lowest_priority_without_blocking_and_counts(tmp_path: Path) -> None:
    handoff: HandOff[SpoolRecord] = HandOff(2)  # nobody drains it
    pipeline = make_pipeline(handoff, tmp_path)
    for i in range(5):
        pipeline.process(frame(i, True))
    assert len(handoff) == 2
    drops = pipeline.metrics.registry.get_sample_value("longtail_agent_handoff_drops_total")
    assert drops == 3


def test_bytes_budget_is_spent_per_encoded_frame(tmp_path: Path) -> None:
    handoff: HandOff[SpoolRecord] = HandOff(10)
    pipeline = make_pipeline(handoff, tmp_path, bytes_per_day=8000)
    kept = [len(pipeline.process(frame(i, True))) for i in range(4)]
    assert kept[0] == 1 and sum(kept) < 4  # a 300-point frame is ~4.8 kB
    suppressed = pipeline.metrics.registry.get_sample_value(
        "longtail_agent_suppressed_total", {"reason": "bytes_budget"}
    )
    assert suppressed == 4 - sum(kept)
