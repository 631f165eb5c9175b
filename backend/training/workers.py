"""Where training and evaluation jobs run: this process, a local worker process (the embedded
default), or a Ray cluster when ``[training] ray_address`` is set (same job functions).

A job is a picklable top-level function and picklable arguments; ``Executor.run`` returns its
result or raises ``WorkerError`` (a ``TrainingError``) naming the job when the job failed or its
worker died (a killed worker process, a lost Ray node). Jobs read their inputs from paths the
worker can see (a local disk here, shared storage on a cluster) and return their outputs as
values, so nothing a job writes needs to be visible to the caller.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

from backend.errors import TrainingError, WorkerError

log = logging.getLogger(__name__)

T = TypeVar("T")
#: ``ray_address`` that starts a private Ray instance on this machine
LOCAL_RAY: str = "local"


class Executor(Protocol):
    """Runs one job to completion."""

    def run(self, fn: Callable[..., T], *args: Any) -> T: ...


def _name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{getattr(fn, '__qualname__', repr(fn))}"


class InlineExecutor:
    """Runs the job in this process (tests, and tools that already run in a worker)."""

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)


class ProcessExecutor:
    """Runs each job in a fresh ``spawn`` worker process: a crash, a leak or a kill of the job
    cannot take the caller down, and the worker starts from a clean interpreter."""

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            future = pool.submit(fn, *args)
            try:
                return future.result()
            except BrokenProcessPool as exc:
                raise WorkerError(f"job {_name(fn)}: its worker process died ({exc})") from exc


class RayExecutor:
    """Runs each job as a Ray task on the cluster at ``address`` (``"local"``: a private Ray
    instance with ``num_cpus`` CPUs on this machine). Ray is connected on first use."""

    def __init__(self, address: str, *, num_cpus: int | None = None, task_cpus: int = 1) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.task_cpus = task_cpus

    def _connect(self) -> Any:
        import ray

        if not ray.is_initialized():
            if self.address == LOCAL_RAY:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=self.address, log_to_driver=False)
        return ray

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        ray = self._connect()
        task = ray.remote(num_cpus=self.task_cpus, max_retries=0)(fn)
        try:
            result: T = ray.get(task.remote(*args))
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(exc.cause, Exception) else exc
            if isinstance(cause, TrainingError):
                raise cause from exc
            raise WorkerError(f"job {_name(fn)} failed on Ray: {cause}") from exc
        except ray.exceptions.RayError as exc:
            raise WorkerError(f"job {_name(fn)}: Ray lost the task ({exc})") from exc
        return result


def make_executor(ray_address: str = "") -> Executor:
    """A ``RayExecutor`` when ``ray_address`` is set, else a ``ProcessExecutor``."""
    return RayExecutor(ray_address) if ray_address else ProcessExecutor()
