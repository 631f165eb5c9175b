"""The exception tree of the simulated crowd (under ``simulators.errors.SimulatorError``).

::

    CrowdError               a crowd that cannot run (a frame the truth source does not know)
    └── ApiError             the server answered a request with an unexpected status
        ├── LeaseLostError     409: the lease expired or went to someone else (drop the task)
        ├── StaleVersionError  409 with ``current_version``: the set moved on (reload, retry)
        └── FlaggedError       403: the gold checks flagged this person (no more work)
"""

from __future__ import annotations

from simulators.errors import SimulatorError


class CrowdError(SimulatorError):
    """Root of the crowd's errors."""


class ApiError(CrowdError):
    """An HTTP answer the crowd did not expect: method, path, status and the server's detail."""

    def __init__(self, method: str, path: str, status: int, detail: str) -> None:
        super().__init__(f"{method} {path} answered {status}: {detail}")
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail


class LeaseLostError(ApiError):
    """409 without a version: the lease expired, was released or is held by someone else."""


class StaleVersionError(ApiError):
    """409 with the label set's ``current_version``: a save that started from an old version."""

    def __init__(self, method: str, path: str, detail: str, current_version: int) -> None:
        super().__init__(method, path, 409, detail)
        self.current_version = current_version


class FlaggedError(ApiError):
    """403 on ``/work/next``: the person was flagged by the gold checks."""
