"""A retraining run in its own process, for the kill tests: ``python -m
tests.backend.training.retrain_child TRAINING_DIR REGISTRY CHAMPION EPOCHS DRIVE...``
(the last drive is replayed). Training runs in this process (InlineExecutor)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from backend.training.finetune import FinetuneConfig
from backend.training.retrain import Retrainer
from backend.training.sources import DriveSource
from backend.training.workers import InlineExecutor
from tests.backend.training.registry import CopyRegistry


def main(argv: list[str]) -> int:
    training_dir, registry, champion, epochs, *drives = argv
    retrainer = Retrainer(
        Path(training_dir),
        executor=InlineExecutor(),
        register=CopyRegistry(Path(registry)),
        clock=lambda: datetime.now(UTC),
        code=lambda: "test",
    )
    config = FinetuneConfig(epochs=int(epochs), batch_size=16, threads=1, min_labels=3)
    retrainer.run(
        Path(champion),
        [DriveSource(d) for d in drives[:-1]],
        [DriveSource(drives[-1])],
        config=config,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
