"""A retraining run with weak labels records how many weak objects per class it trained on,
and which weak sources they came from."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from backend.training.finetune import FinetuneConfig
from backend.training.retrain import Retrainer, RunRecord
from backend.training.sets import SetConfig, TrainingSet
from backend.training.sources import DriveSource
from backend.training.weak.labeller import label_drives
from backend.training.weak.observe import observe
from backend.training.weak.source import WeakSource
from backend.training.weak.store import write_weak_drive
from backend.training.workers import InlineExecutor
from tests.backend.training.registry import CopyRegistry
from tests.backend.training.weak.fakes import FixedPerception, drive_frames

TINY = FinetuneConfig(epochs=1, batch_size=64, threads=1, min_labels=3, min_val_recall=0.0)


def test_the_run_record_counts_the_weak_objects(
    tiny_package: Path, drives: dict[str, Path], tmp_path: Path
) -> None:
    frames = drive_frames(5, seed=7)
    (result,) = label_drives([observe(frames, FixedPerception())])
    weak = WeakSource(
        write_weak_drive(tmp_path / "w", result, frames, champion="m", settings={}, sources=[])
    )
    registry = CopyRegistry(tmp_path / "registry")
    retrainer = Retrainer(
        tmp_path / "training",
        executor=InlineExecutor(),
        register=registry,
        clock=lambda: datetime(2026, 12, 1, tzinfo=UTC),
        code=lambda: "test-code",
    )
    outcome = retrainer.run(
        tiny_package,
        [DriveSource(drives[k]) for k in "abc"],
        [DriveSource(drives["old"])],
        weak=[weak],
        set_config=SetConfig(weak_share=0.9),
        config=TINY,
    )
    record = outcome.record
    ts = TrainingSet.open(tmp_path / "training" / "sets" / record.training_set_digest)
    assert record.weak_objects == ts.weak_objects() == {"car": 5, "weak_unsure": 5}
    assert record.weak_sources == (f"weak:w@{weak.digest}",)
    stored = json.loads((tmp_path / "registry" / outcome.version / "record.json").read_text())
    assert RunRecord.from_json(stored) == record
    # a record written before weak supervision existed still reads
    old = {k: v for k, v in stored.items() if not k.startswith("weak_")}
    assert RunRecord.from_json(old).weak_objects == {}
