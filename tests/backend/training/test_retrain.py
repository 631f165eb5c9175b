"""Retraining runs: registered only after every stage, logged to MLflow, reproducible from the
record, and a run killed mid-training (its worker, or the whole run) registers nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.perception.package import ModelPackage
from backend.errors import SuiteLeakError, WorkerError
from backend.training.finetune import FinetuneConfig
from backend.training.retrain import PROGRESS_FILE, Retrainer, RunRecord, code_version
from backend.training.sources import DriveSource
from backend.training.tracking import MlflowTracker, default_tracking_uri
from backend.training.workers import InlineExecutor, ProcessExecutor
from tests.backend.training.registry import CopyRegistry

#: the bar at 0 keeps the fixture's deer (two epochs do not teach it: validation recall 0)
TINY = FinetuneConfig(epochs=2, batch_size=64, threads=1, min_labels=3, min_val_recall=0.0)
REPO = Path(__file__).resolve().parents[3]


def _now() -> datetime:
    return datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _sources(drives: dict[str, Path]) -> tuple[list[DriveSource], list[DriveSource]]:
    return [DriveSource(drives[k]) for k in "abc"], [DriveSource(drives["old"])]


def _retrainer(root: Path, registry: CopyRegistry, **kw: object) -> Retrainer:
    options: dict[str, object] = {
        "executor": InlineExecutor(),
        "register": registry,
        "clock": _now,
        "code": lambda: "test-code",
        **kw,
    }
    return Retrainer(root / "training", **options)  # type: ignore[arg-type]


def test_a_run_is_logged_then_registered(
    tiny_package: Path, drives: dict[str, Path], tmp_path: Path
) -> None:
    registry = CopyRegistry(tmp_path / "registry")
    root = tmp_path / "training"
    tracker = MlflowTracker(default_tracking_uri(root), artifact_dir=root / "mlartifacts")
    root.mkdir()
    outcome = _retrainer(tmp_path, registry, tracker=tracker).run(
        tiny_package, *_sources(drives), config=TINY
    )
    assert registry.versions() == [outcome.version] == ["v1"]
    package = ModelPackage.load(tmp_path / "registry" / "v1")
    assert package.class_names[-1] == "deer" and outcome.promoted == ("deer",)
    record = RunRecord.from_json(json.loads((tmp_path / "registry/v1/record.json").read_text()))
    assert record == outcome.record
    assert record.parent_model == ModelPackage.load(tiny_package).version
    assert record.training_set_digest == package.metadata["training"]["dataset_digest"]
    assert record.code_version == "test-code" and record.seed == TINY.seed
    assert package.version.endswith(record.run_id)
    assert list((root / "runs").iterdir()) == []  # the run directory is gone
    from mlflow.tracking import MlflowClient

    client = MlflowClient(default_tracking_uri(root))
    assert outcome.mlflow_run_id is not None
    run = client.get_run(outcome.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["weights_sha256"] == outcome.weights_sha256
    assert run.data.params["training_set_digest"] == record.training_set_digest
    assert run.data.params["finetune.learning_rate"] == str(TINY.learning_rate)
    assert run.data.params["promotion.kept"] == "['deer']"
    assert run.data.tags["promoted"] == "deer" and run.data.tags["demoted"] == ""
    assert run.data.metrics["promotion.deer.kept"] == 1.0
    assert run.data.metrics["promotion.deer.val_recall"] == pytest.approx(
        outcome.promotion["verdicts"]["deer"]["val_recall"]
    )
    losses = client.get_metric_history(run.info.run_id, "train_loss")
    assert sorted(m.step for m in losses) == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "package")}
    assert "package/model.onnx" in artifacts and "package/scoring.npz" in artifacts


def test_a_demoted_class_is_recorded_in_the_outcome_and_mlflow(
    tiny_package: Path, drives: dict[str, Path], tmp_path: Path
) -> None:
    registry = CopyRegistry(tmp_path / "registry")
    root = tmp_path / "training"
    root.mkdir()
    tracker = MlflowTracker(default_tracking_uri(root), artifact_dir=root / "mlartifacts")
    outcome = _retrainer(tmp_path, registry, tracker=tracker).run(
        tiny_package, *_sources(drives), config=replace(TINY, min_val_recall=1.0)
    )
    verdict = outcome.promotion["verdicts"]["deer"]
    assert verdict["val_recall"] < 1.0  # measured; the bar of 1.0 is above it
    assert outcome.demoted == ("deer",) and outcome.promoted == ()
    assert "deer" not in ModelPackage.load(tmp_path / "registry" / outcome.version).class_names
    from mlflow.tracking import MlflowClient

    assert outcome.mlflow_run_id is not None
    run = MlflowClient(default_tracking_uri(root)).get_run(outcome.mlflow_run_id)
    assert run.data.tags["demoted"] == "deer" and run.data.tags["promoted"] == ""
    assert run.data.metrics["promotion.deer.kept"] == 0.0
    assert run.data.metrics["promotion.deer.val_candidates"] == verdict["val_candidates"]
    assert run.data.params["promotion.min_recall"] == "1.0"
    # the record reruns the same review: its finetune config carries the bar
    assert outcome.record.configs()[1].min_val_recall == 1.0


def test_same_record_same_weights(
    tiny_package: Path, drives: dict[str, Path], tmp_path: Path
) -> None:
    registry = CopyRegistry(tmp_path / "registry")
    first = _retrainer(tmp_path, registry).run(tiny_package, *_sources(drives), config=TINY)
    set_config, config = first.record.configs()
    again = _retrainer(tmp_path / "other", registry).run(
        tiny_package, *_sources(drives), set_config=set_config, config=config
    )
    assert again.record.training_set_digest == first.record.training_set_digest
    assert again.weights_sha256 == first.weights_sha256
    assert code_version(REPO)  # a commit here (or the package version elsewhere)


def test_a_failed_stage_registers_nothing(
    tiny_package: Path, drives: dict[str, Path], tmp_path: Path
) -> None:
    registry = CopyRegistry(tmp_path / "registry")
    new, replay = _sources(drives)
    leaked = new[0].frames()[0].id
    with pytest.raises(SuiteLeakError):
        _retrainer(tmp_path, registry).run(
            tiny_package, new, replay, config=TINY, forbidden={leaked}
        )
    assert registry.versions() == []
    assert list((tmp_path / "training" / "runs").iterdir()) == []


def _progress(root: Path, timeout_s: float = 60.0) -> dict[str, float]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for path in (root / "runs").glob(f"*/{PROGRESS_FILE}"):
            try:
                return dict(json.loads(path.read_text()))
            except (OSError, ValueError):
                pass
        time.sleep(0.02)
    raise AssertionError("training never reported an epoch")


def test_killed_worker_registers_nothing(
    tiny_package: Path, drives: dict[str, Path], tmp_path: Path
) -> None:
    """The default executor: a spawned worker process, killed with SIGKILL mid-training."""
    registry = CopyRegistry(tmp_path / "registry")
    retrainer = _retrainer(tmp_path, registry, executor=ProcessExecutor())
    long = replace(TINY, epochs=5000, batch_size=16)
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(retrainer.run, tiny_package, *_sources(drives), config=long)
        progress = _progress(tmp_path / "training")
        os.kill(int(progress["pid"]), signal.SIGKILL)
        with pytest.raises(WorkerError, match="died"):
            future.result(timeout=60)
    assert registry.versions() == []
    # the next run in a fresh worker process goes through
    outcome = retrainer.run(tiny_package, *_sources(drives), config=TINY)
    assert registry.versions() == [outcome.version]


def test_killed_run_registers_nothing_and_the_next_run_works(
    tiny_package: Path, drives: dict[str, Path], tmp_path: Path
) -> None:
    registry = CopyRegistry(tmp_path / "registry")
    root = tmp_path / "training"
    args = [str(root), str(registry.dest), str(tiny_package), "5000"]
    args += [str(drives[k]) for k in ("a", "b", "c", "old")]
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.backend.training.retrain_child", *args],
        cwd=REPO,
        start_new_session=True,
    )
    try:
        progress = _progress(root)
        assert progress["epoch"] >= 1  # killed mid-training, well before epoch 5000
        os.killpg(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert registry.versions() == []
    assert len(list((root / "runs").iterdir())) == 1  # the abandoned run directory
    outcome = _retrainer(tmp_path, registry).run(tiny_package, *_sources(drives), config=TINY)
    assert registry.versions() == [outcome.version]
    assert list((root / "runs").iterdir()) == []  # swept, and the new run's own is gone
