"""Training and evaluation as Ray tasks on a local Ray instance (one CPU)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import ray

from backend.errors import TrainingError, WorkerError
from backend.evaluation.run import evaluate_package
from backend.training.finetune import FinetuneConfig
from backend.training.retrain import Retrainer
from backend.training.sources import DriveSource
from backend.training.workers import LOCAL_RAY, RayExecutor
from tests.backend.training.registry import CopyRegistry


@pytest.fixture(scope="module")
def executor() -> Iterator[RayExecutor]:
    ex = RayExecutor(LOCAL_RAY, num_cpus=1)
    try:
        yield ex
    finally:
        ray.shutdown()


def _fails(message: str) -> None:
    raise TrainingError(message)


def test_retrain_and_evaluate_on_ray(
    executor: RayExecutor, tiny_package: Path, drives: dict[str, Path], tmp_path: Path
) -> None:
    registry = CopyRegistry(tmp_path / "registry")
    retrainer = Retrainer(
        tmp_path / "training",
        executor=executor,
        register=registry,
        clock=lambda: datetime(2026, 12, 1, tzinfo=UTC),
        code=lambda: "test",
    )
    config = FinetuneConfig(epochs=2, batch_size=64, threads=1, min_labels=3)
    outcome = retrainer.run(
        tiny_package,
        [DriveSource(drives[k]) for k in "abc"],
        [DriveSource(drives["old"])],
        config=config,
    )
    assert registry.versions() == [outcome.version]
    report = executor.run(
        evaluate_package, str(registry.dest / outcome.version), [str(drives["c"])], None
    )
    assert report["frames"] == 2
    # a job's own error comes back as itself, not as a lost worker
    with pytest.raises(TrainingError, match="boom") as err:
        executor.run(_fails, "boom")
    assert not isinstance(err.value, WorkerError)
