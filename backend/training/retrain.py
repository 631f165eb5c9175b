"""One retraining run: record -> training set -> fine-tune (in a worker) -> package -> MLflow ->
``register``, the last step only after every other one succeeded.

::

    <training dir>/sets/<digest>/        training sets (content-addressed, reused)
    <training dir>/cache/                candidate caches
    <training dir>/runs/<run id>/        a run in progress: record.json, progress.json, pid,
                                         package/; removed when the run ends

The training set is built in the caller's process (it reads dataset versions from the metadata
database and blob store); fine-tuning runs as a job on the ``Executor`` (a spawned worker process
by default, Ray when configured) and returns the package's files as bytes, which the caller writes
into the run directory, loads as a vehicle would, logs and hands to ``register``. A run killed at
any point leaves at most its run directory, which the next run removes (its ``pid`` is gone);
nothing reaches the registry.

Reproducible: the record holds the code version, the parent model (version and model digest),
the training set's digest (and the dataset versions, replay and weak sources it came from, and
how many weakly-labelled objects per class it holds), the seed and both configs; the same record on the same data gives the same weights on CPU
(``FinetuneResult.weights_sha256``, deterministic torch algorithms, fixed threads).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Final

from agent.perception.package import ModelPackage
from backend.config import TrainingConfig
from backend.errors import TrainingError
from backend.training.finetune import FinetuneConfig, finetune, load_champion, weights_digest
from backend.training.sets import SetConfig, TrainingSet, build_set
from backend.training.sources import FrameSource
from backend.training.tracking import MlflowTracker, default_tracking_uri
from backend.training.workers import Executor, make_executor
from core.formats.atomic import atomic_write_bytes

log = logging.getLogger(__name__)

RECORD_FILE: Final = "record.json"
PROGRESS_FILE: Final = "progress.json"
PID_FILE: Final = "pid"
PACKAGE_FILES: Final = ("model.onnx", "metadata.json", "embeddings.npz", "scoring.npz")


@dataclass(frozen=True)
class RunRecord:
    """Everything a run depends on (see the module docstring)."""

    run_id: str
    created_at: str
    code_version: str
    parent_model: str
    parent_model_sha256: str
    dataset_digests: tuple[str, ...]
    replay_sources: tuple[str, ...]
    training_set_digest: str
    seed: int
    set_config: dict[str, Any]
    finetune_config: dict[str, Any]
    #: weakly-labelled sources (``backend.training.weak``) as ``name@digest``
    weak_sources: tuple[str, ...] = ()
    #: weakly-labelled objects per class in the training set (``weak_unsure``: dropped)
    weak_objects: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        try:
            return cls(
                **{
                    **data,
                    "dataset_digests": tuple(data["dataset_digests"]),
                    "replay_sources": tuple(data["replay_sources"]),
                    "weak_sources": tuple(data.get("weak_sources", ())),
                }
            )
        except (KeyError, TypeError) as exc:
            raise TrainingError(f"not a retraining run record: {exc}") from exc

    def configs(self) -> tuple[SetConfig, FinetuneConfig]:
        """The set and fine-tuning configs of this record (to run it again)."""
        s = dict(self.set_config)
        s["focus_classes"] = tuple(s["focus_classes"])
        return SetConfig(**s), FinetuneConfig(**self.finetune_config)


#: ``register(package_dir, record) -> model version``: the registry's entry point
Register = Callable[[Path, RunRecord], str]


@dataclass
class RunOutcome:
    """A registered run: its classes, the new classes that passed the promotion review
    (``promoted``) and those demoted back to unknown (``demoted``), and the review with its
    numbers (``promotion``, as in ``FinetuneResult``)."""

    record: RunRecord
    version: str
    classes: tuple[str, ...]
    promoted: tuple[str, ...]
    weights_sha256: str
    candidates_per_class: dict[str, int]
    val_recall: dict[str, float]
    history: list[dict[str, float]]
    mlflow_run_id: str | None
    seconds: dict[str, float] = field(default_factory=dict)
    demoted: tuple[str, ...] = ()
    promotion: dict[str, Any] = field(default_factory=dict)


def code_version(repo: Path | None = None) -> str:
    """The git commit of the source tree (``+dirty`` with uncommitted changes), else the
    installed package's version."""
    root = repo or Path(__file__).resolve().parents[2]
    if (root / ".git").exists():
        try:
            head = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            ).stdout.strip()
            return head + ("+dirty" if dirty else "")
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        return f"longtail-{importlib_metadata.version('longtail')}"
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class FinetuneJob:
    """The worker's inputs: paths it can read and the config."""

    champion_dir: str
    set_dir: str
    config: FinetuneConfig
    cache_dir: str | None = None
    progress_file: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class JobOutput:
    """The worker's outputs: the package's files and the facts of its training."""

    files: dict[str, bytes]
    classes: tuple[str, ...]
    promoted: tuple[str, ...]
    history: list[dict[str, float]]
    weights_sha256: str
    candidates_per_class: dict[str, int]
    val_recall: dict[str, float]
    seconds: dict[str, float]
    demoted: tuple[str, ...]
    promotion: dict[str, Any]


def run_finetune_job(job: FinetuneJob) -> JobOutput:
    """Fine-tune in the worker (top-level: picklable for spawn and Ray)."""
    import tempfile

    def report(entry: dict[str, float]) -> None:
        if job.progress_file is not None:  # the worker's pid: an operator can see who trains
            line = json.dumps({**entry, "pid": os.getpid()}).encode()
            atomic_write_bytes(Path(job.progress_file), line, durable=False)

    with tempfile.TemporaryDirectory(prefix="longtail-finetune-") as tmp:
        out = Path(tmp) / "package"
        result = finetune(
            Path(job.champion_dir),
            TrainingSet.open(job.set_dir),
            out,
            job.config,
            cache_dir=Path(job.cache_dir) if job.cache_dir else None,
            on_epoch=report,
            version=job.version,
        )
        files = {name: (out / name).read_bytes() for name in PACKAGE_FILES}
    return JobOutput(
        files,
        result.classes,
        result.promoted,
        result.history,
        result.weights_sha256,
        result.candidates_per_class,
        result.val_recall,
        result.seconds,
        result.demoted,
        result.promotion,
    )


def promotion_metrics(promotion: dict[str, Any]) -> dict[str, float]:
    """The promotion review's numbers as MLflow metrics: per trial class its validation
    recall (as judged, before demotion), validation candidates and 1.0 kept / 0.0 demoted."""
    out: dict[str, float] = {}
    for name, verdict in promotion.get("verdicts", {}).items():
        if verdict["val_recall"] is not None:
            out[f"promotion.{name}.val_recall"] = float(verdict["val_recall"])
        out[f"promotion.{name}.val_candidates"] = float(verdict["val_candidates"])
        out[f"promotion.{name}.kept"] = 1.0 if verdict["kept"] else 0.0
    return out


def _plain(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` as it reads back from JSON (tuples become lists): a record equals its copy."""
    out: dict[str, Any] = json.loads(json.dumps(value))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_runs(runs_dir: Path) -> list[str]:
    """Remove the directories of runs whose process is gone (killed mid-run); returns them."""
    removed: list[str] = []
    if not runs_dir.is_dir():
        return removed
    for run in sorted(runs_dir.iterdir()):
        try:
            pid = int((run / PID_FILE).read_text())
        except (OSError, ValueError):
            pid = -1
        if pid > 0 and _alive(pid):
            continue
        shutil.rmtree(run, ignore_errors=True)
        removed.append(run.name)
    if removed:
        log.warning("removed %d abandoned run directories: %s", len(removed), removed)
    return removed


class Retrainer:
    """Runs retraining runs under ``training_dir`` (see the module docstring)."""

    def __init__(
        self,
        training_dir: Path,
        *,
        executor: Executor,
        register: Register,
        clock: Callable[[], datetime],
        tracker: MlflowTracker | None = None,
        code: Callable[[], str] = code_version,
    ) -> None:
        self.dir = Path(training_dir)
        self.executor = executor
        self.register = register
        self.tracker = tracker
        self._clock = clock
        self._code = code

    @property
    def sets_dir(self) -> Path:
        return self.dir / "sets"

    @property
    def runs_dir(self) -> Path:
        return self.dir / "runs"

    def run(
        self,
        champion_dir: Path,
        new: Sequence[FrameSource],
        replay: Sequence[FrameSource] = (),
        *,
        weak: Sequence[FrameSource] = (),
        set_config: SetConfig | None = None,
        config: FinetuneConfig | None = None,
        forbidden: Collection[str] = frozenset(),
        suite: str = "the edge-case suite",
    ) -> RunOutcome:
        """One run from the champion package at ``champion_dir``; returns the registered
        outcome. ``weak`` sources (weakly-labelled drives) extend the training split only
        (``backend.training.sets``). Raises (and registers nothing) if any stage fails."""
        set_config = set_config or SetConfig()
        config = config or FinetuneConfig()
        clock: dict[str, float] = {}
        t0 = time.perf_counter()
        sweep_runs(self.runs_dir)
        now = self._clock()
        run_id = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        run_dir = self.runs_dir / run_id
        run_dir.mkdir(parents=True)
        (run_dir / PID_FILE).write_text(str(os.getpid()))
        try:
            champion = ModelPackage.load(champion_dir)
            training_set = build_set(
                self.sets_dir,
                new,
                replay,
                set_config,
                weak=weak,
                forbidden=forbidden,
                suite=suite,
            )
            t1 = time.perf_counter()
            clock["dataset"] = t1 - t0
            record = RunRecord(
                run_id=run_id,
                created_at=now.isoformat(),
                code_version=self._code(),
                parent_model=champion.version,
                parent_model_sha256=hashlib.sha256(champion.model_path.read_bytes()).hexdigest(),
                dataset_digests=tuple(s.digest for s in new),
                replay_sources=tuple(f"{s.name}@{s.digest}" for s in replay),
                training_set_digest=training_set.digest,
                seed=config.seed,
                set_config=_plain(asdict(set_config)),
                finetune_config=_plain(asdict(config)),
                weak_sources=tuple(f"{s.name}@{s.digest}" for s in weak),
                weak_objects=training_set.weak_objects(),
            )
            (run_dir / RECORD_FILE).write_text(json.dumps(record.to_json(), indent=1))
            job = FinetuneJob(
                str(Path(champion_dir).resolve()),
                str(training_set.path.resolve()),
                config,
                str((self.dir / "cache").resolve()),
                str((run_dir / PROGRESS_FILE).resolve()),
                # unique per run: the package's metadata (creation time) differs run to run, and
                # a registry refuses other content under a version it holds
                f"retrain-{training_set.digest[:12]}-s{config.seed}-{run_id}",
            )
            output = self.executor.run(run_finetune_job, job)
            t2 = time.perf_counter()
            clock["train"] = t2 - t1
            package_dir = self._unpack(run_dir / "package", output)
            mlflow_id = None
            if self.tracker is not None:
                mlflow_id = self.tracker.log_run(
                    run_name=run_id,
                    params={
                        **{k: v for k, v in record.to_json().items() if "config" not in k},
                        "set": record.set_config,
                        "finetune": record.finetune_config,
                        "promotion": output.promotion,
                    },
                    history=output.history,
                    metrics={
                        **{f"val_recall.{k}": v for k, v in output.val_recall.items()},
                        **promotion_metrics(output.promotion),
                    },
                    tags={
                        "parent_model": record.parent_model,
                        "training_set": record.training_set_digest,
                        "code_version": record.code_version,
                        "weights_sha256": output.weights_sha256,
                        "model_sha256": hashlib.sha256(output.files["model.onnx"]).hexdigest(),
                        "classes": ",".join(output.classes),
                        "promoted": ",".join(output.promoted),
                        "demoted": ",".join(output.demoted),
                    },
                    package_dir=package_dir,
                )
            t3 = time.perf_counter()
            clock["package"] = t3 - t2
            version = self.register(package_dir, record)
            clock["register"] = time.perf_counter() - t3
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
        clock["total"] = time.perf_counter() - t0
        log.info("retraining run %s registered as %s: %s", run_id, version, clock)
        return RunOutcome(
            record,
            version,
            output.classes,
            output.promoted,
            output.weights_sha256,
            output.candidates_per_class,
            output.val_recall,
            output.history,
            mlflow_id,
            {**clock, **{f"worker.{k}": v for k, v in output.seconds.items()}},
            output.demoted,
            output.promotion,
        )

    @staticmethod
    def _unpack(package_dir: Path, output: JobOutput) -> Path:
        """Write the job's files and check them as a vehicle would load them, and that the
        ONNX weights are the weights the worker trained."""
        package_dir.mkdir()
        for name, data in output.files.items():
            (package_dir / name).write_bytes(data)
        package = ModelPackage.load(package_dir)
        got = weights_digest(load_champion(package))
        if got != output.weights_sha256:
            raise TrainingError(
                f"{package_dir}: the package's weights hash to {got}, the worker trained "
                f"{output.weights_sha256}"
            )
        return package_dir


def retrainer_from_config(
    config: TrainingConfig, register: Register, clock: Callable[[], datetime]
) -> Retrainer:
    """The ``Retrainer`` of a ``[training]`` section: Ray when ``ray_address`` is set, else a
    local worker process; MLflow at ``mlflow_tracking_uri``, else the local SQLite store."""
    root = Path(config.dir)
    uri = config.mlflow_tracking_uri or default_tracking_uri(root)
    tracker = MlflowTracker(
        uri, artifact_dir=None if config.mlflow_tracking_uri else root / "mlartifacts"
    )
    return Retrainer(
        root,
        executor=make_executor(config.ray_address),
        register=register,
        clock=clock,
        tracker=tracker,
    )


def configs_from(config: TrainingConfig) -> tuple[SetConfig, FinetuneConfig]:
    """The set and fine-tuning configs a ``[training]`` section asks for."""
    return (
        SetConfig(seed=config.seed, replay_share=config.replay_share, weak_share=config.weak_share),
        FinetuneConfig(
            seed=config.seed,
            epochs=config.epochs,
            learning_rate=config.learning_rate,
            threads=config.threads,
            min_labels=config.min_labels,
            min_val_recall=config.min_val_recall,
            max_promoted=config.max_promoted,
        ),
    )
