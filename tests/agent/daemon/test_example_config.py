"""The shipped example config stays valid: options load and every rule compiles against the
signals the production analyzer and the replay source provide."""

from __future__ import annotations

from pathlib import Path

import agent.daemon
from agent.config import load_config
from agent.daemon.app import rule_specs
from agent.daemon.model import FRAME_SCORE_NAMES
from agent.daemon.sources import REPLAY_SIGNALS
from agent.scoring import SCORE_NAMES
from agent.selection.rules import compile_rules
from agent.selection.signals import SignalSchema
from core.classes import COMMON_CLASSES

EXAMPLE = Path(agent.daemon.__file__).parent / "agent.example.toml"


def test_example_config_loads_and_its_rules_compile() -> None:
    config = load_config(EXAMPLE, environ={"LONGTAIL_VEHICLE__TOKEN": "t"})
    assert config.upload.bandwidth_bytes_per_s == 2e6
    schema = SignalSchema(
        class_names=COMMON_CLASSES,
        detection_score_names=(*SCORE_NAMES, *(f"{n}_tail" for n in SCORE_NAMES)),
        frame_score_names=FRAME_SCORE_NAMES,
        vehicle_signal_names=REPLAY_SIGNALS,
    )
    rules = compile_rules(rule_specs(config.selection), schema.names())
    assert [r.name for r in rules] == [
        "vru_unsure",
        "novel_object",
        "unusual_frame",
        "hard_braking",
    ]
