"""Offline scoring of a recorded drive: ``longtail-agent score DIR --out FILE.jsonl``.

One JSON object per frame::

    {"frame": 12, "timestamp_ns": ..., "num_points": 31250,
     "signals": {"frame.score": 0.91, "count.pedestrian": 1, ...},
     "rules": ["vru_unsure"],
     "detections": [{"class": "pedestrian", "confidence": 0.41, "num_points": 57,
                     "box": [...], "scores": {...}}, ...]}

``rules`` lists the rules whose expression holds on the frame, ignoring edge mode, minimum
intervals and budgets (those depend on the drive's history, not on the frame).

Files that cannot be read are skipped and counted (``agent.daemon.sources.ReplayReport``): the
output holds the frames that were read, and the exit code says whether some or all were
skipped (``agent.cli``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from tqdm import tqdm

from agent.config import AgentConfig
from agent.daemon.app import build_analyzer, rule_specs
from agent.daemon.pipeline import schema_for
from agent.daemon.sources import ReplayReport, open_replay
from agent.selection.drivable import drivable_signals, load_drivable_area
from agent.selection.rules import compile_rules
from agent.selection.signals import compute_signals
from core.formats.atomic import atomic_write_bytes


def _finite(value: float) -> float | None:
    # JSON has no NaN/inf; None keeps the line parseable by strict readers
    return value if math.isfinite(value) else None


def score_drive(
    config: AgentConfig, drive: Path, out: Path, *, progress: bool = True
) -> ReplayReport:
    """Score every frame of ``drive`` (dataset layout, or a directory of point files) into
    ``out`` (written atomically); returns the replay's report (frames read and skipped).

    Raises ConfigError for a bad rule and FormatError for an unreadable drive.
    """
    analyzer = build_analyzer(config)
    source = open_replay(drive, rate="max", rate_hz=10.0, sleep=lambda _s: False)
    area = (
        load_drivable_area(config.selection.drivable_area_file)
        if config.selection.drivable_area_file
        else None
    )
    schema = schema_for(analyzer, source.vehicle_signal_names, area is not None)
    rules = compile_rules(rule_specs(config.selection), schema.names())
    lines: list[str] = []
    frames = source.frames()
    bar = tqdm(frames, total=len(source), unit="frame", disable=not progress)
    for frame in bar:
        analysis = analyzer.analyze(frame.points)
        signals = compute_signals(
            schema,
            analysis.detections,
            analysis.frame_scores,
            frame.vehicle,
            len(frame.points),
            drivable_signals(analysis.detections, frame.pose, area),
        )
        entry: dict[str, Any] = {
            "frame": frame.index,
            "timestamp_ns": frame.timestamp_ns,
            "num_points": len(frame.points),
            "signals": {k: _finite(v) for k, v in sorted(signals.items())},
            "rules": [rule.name for rule in rules if rule.would_fire(signals)],
            "detections": [
                {
                    "class": d.class_name,
                    "confidence": _finite(d.confidence),
                    "num_points": d.num_points,
                    "box": [round(v, 4) for v in d.box],
                    "scores": {k: _finite(float(v)) for k, v in d.scores.items()},
                }
                for d in analysis.detections
            ],
        }
        lines.append(json.dumps(entry))
    bar.close()
    atomic_write_bytes(out, ("\n".join(lines) + ("\n" if lines else "")).encode(), durable=False)
    return source.report
