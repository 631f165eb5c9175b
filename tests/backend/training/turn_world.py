"""A backend ready for a retraining turn: the edge-case suite built from drive ``b``, drive
``old`` as replay, one-epoch training, the tiny package registered and promoted as champion."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from backend.config import AnnotationConfig, TrainingConfig
from backend.evaluation.suite import build_suite, write_suite
from backend.wiring import build_backend, local_config
from tests.backend.annotation.world import Clock, World
from tests.backend.datasets.conftest import RULES


def turn_world(
    tiny_package: Path, drives: dict[str, Path], tmp_path: Path, **training: Any
) -> World:
    """The world; ``training`` overrides ``[training]`` options (e.g. ``weak_supervision``).
    The caller closes ``world.backend``."""
    suite = build_suite([drives["b"]], tmp_path / "suite")
    suite_file = write_suite(suite, tmp_path / "suite" / "suite.json")
    config = replace(
        local_config(tmp_path / "data"),
        annotation=replace(
            AnnotationConfig(),
            gold_share=0.0,
            spot_check_share=0.0,
            seed=1,
            settle_s=0.0,
            rules=RULES,
        ),
        training=replace(
            TrainingConfig(),
            dir=str(tmp_path / "training"),
            suite=str(suite_file),
            replay=(str(drives["old"]),),
            epochs=1,
            threads=1,
            **training,
        ),
    )
    clock = Clock()
    world = World(build_backend(config, clock=clock), clock)
    registry = world.backend.release.registry
    champion = registry.register(
        tiny_package, run_id=None, dataset_digest=None, parent_version=None, metrics={}
    )
    registry.promote(champion.version, actor="test")
    return world
