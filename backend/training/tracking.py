"""Retraining runs in MLflow tracking: where ML engineers look.

One MLflow run per retraining run, in the experiment ``longtail-retraining``: the record as
parameters (flattened, ``set.*`` and ``finetune.*``), the per-epoch history as metrics with the
epoch as step, the final validation recall per class and the promotion review
(``promotion.<class>.val_recall``, ``.val_candidates``, ``.kept``), tags (parent model,
training-set digest, code version, weights and package digests, promoted and demoted classes)
and the package as the artifact ``package/``.
The embedded default is a SQLite store (``sqlite:///<training dir>/mlflow.db``) with artifacts
in ``<training dir>/mlartifacts``; a server URI (``http://...``) is used as given.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

log = logging.getLogger(__name__)

EXPERIMENT: Final = "longtail-retraining"
#: MLflow caps a parameter value at 6000 characters; longer values are cut
MAX_PARAM: Final = 6000


def default_tracking_uri(training_dir: Path) -> str:
    """The local store under the backend's training directory."""
    return f"sqlite:///{Path(training_dir).resolve() / 'mlflow.db'}"


def flatten(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    """``(dotted.key, text)`` pairs of nested mappings and sequences."""
    if isinstance(value, Mapping):
        for k in sorted(value):
            yield from flatten(f"{prefix}.{k}" if prefix else str(k), value[k])
    elif isinstance(value, list | tuple) and value and isinstance(value[0], Mapping):
        for i, v in enumerate(value):
            yield from flatten(f"{prefix}.{i}", v)
    else:
        yield prefix, str(value)[:MAX_PARAM]


@contextmanager
def _quiet() -> Iterator[None]:
    # MLflow's SQL store still uses loader options SQLAlchemy 2.1 deprecates; silenced here only
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"mlflow\.")
        yield


class MlflowTracker:
    """Logs finished runs to the tracking store at ``tracking_uri``."""

    def __init__(self, tracking_uri: str, *, artifact_dir: Path | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_dir = artifact_dir

    def _client(self) -> Any:
        from mlflow.tracking import MlflowClient

        with _quiet():
            return MlflowClient(tracking_uri=self.tracking_uri)

    def _experiment(self, client: Any) -> str:
        with _quiet():
            found = client.get_experiment_by_name(EXPERIMENT)
            if found is not None:
                return str(found.experiment_id)
            location = self.artifact_dir.resolve().as_uri() if self.artifact_dir else None
            return str(client.create_experiment(EXPERIMENT, artifact_location=location))

    def log_run(
        self,
        *,
        run_name: str,
        params: Mapping[str, Any],
        history: list[dict[str, float]],
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
        package_dir: Path,
    ) -> str:
        """One finished run; returns the MLflow run id. A failure marks the run FAILED and
        raises."""
        from mlflow.entities import Metric, Param, RunTag

        client = self._client()
        with _quiet():
            run = client.create_run(self._experiment(client), run_name=run_name)
            run_id = str(run.info.run_id)
            try:
                plain = list(flatten("", params))
                for start in range(0, len(plain), 100):  # MLflow takes 100 params per batch
                    client.log_batch(
                        run_id, params=[Param(k, v) for k, v in plain[start : start + 100]]
                    )
                series = [
                    Metric(name, float(value), 0, int(entry["epoch"]))
                    for entry in history
                    for name, value in entry.items()
                    if name != "epoch" and math.isfinite(value)
                ]
                series += [
                    Metric(name, float(v), 0, len(history))
                    for name, v in metrics.items()
                    if math.isfinite(v)
                ]
                for start in range(0, len(series), 1000):
                    client.log_batch(run_id, metrics=series[start : start + 1000])
                client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])
                client.log_artifacts(run_id, str(package_dir), "package")
            except Exception:
                client.set_terminated(run_id, "FAILED")
                raise
            client.set_terminated(run_id, "FINISHED")
        log.info(
            "logged retraining run %s to MLflow %s (run %s)", run_name, self.tracking_uri, run_id
        )
        return run_id
