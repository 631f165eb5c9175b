"""The exception tree of the cloud package; every error the backend raises derives from BackendError.

::

    BackendError
    ├── StorageError          a blob or metadata store failed; ``retryable`` says whether to try again
    ├── TrainingError         a dataset or training run that cannot produce a model
    │   ├── SuiteLeakError    a frame of the edge-case suite offered to a training set
    │   └── WorkerError       a training/evaluation job failed in its worker, or the worker died
    ├── EvaluationError       predictions or ground truth that cannot be scored
    ├── QualityError          labels that annotation QA cannot compare (shapes, lengths, settings)
    ├── SigningKeyError       the release signing key file is missing, unsafe or unreadable
    ├── InvalidInputError     a request or label that breaks a rule (names the field and value)   422
    │   └── SafetyCaseError   a safety case (GSN YAML) that breaks a rule: each problem names its node
    ├── AuthenticationError   no, an unknown, expired or revoked credential                        401
    ├── PermissionDeniedError a known person whose role does not allow the action                  403
    ├── NotFoundError         the named task, user, dataset... does not exist                      404
    ├── ConflictError         the request collides with the stored state                           409
    │   ├── StaleVersionError a save based on an older version (carries the current one)
    │   └── LeaseError        no lease, an expired lease, or a lease held by someone else
    └── UnavailableError      nothing to hand out right now (an empty queue, calibration pending)

The HTTP API maps each class to the status on the right in one place (``backend.api.errors``).
A bad or unsafe option is ``core.errors.ConfigError`` (one loader for every process).
"""

from __future__ import annotations


class BackendError(Exception):
    """Root of every error raised by ``backend``; user errors print their message, no traceback."""


class StorageError(BackendError):
    """A blob or metadata operation that failed; ``retryable`` is True for outages, not bad input."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class TrainingError(BackendError):
    """Training data or settings that cannot produce a model."""


class SuiteLeakError(TrainingError):
    """A frame of the edge-case suite was offered to a training set (names frame and suite)."""


class WorkerError(TrainingError):
    """A job failed in its worker process or Ray task, or the worker died under it."""


class EvaluationError(BackendError):
    """Predictions or ground truth that cannot be evaluated."""


class QualityError(BackendError):
    """Labels or settings the annotation QA core cannot compare (mismatched shapes, lengths,
    thresholds out of range); a programming or data error, not a person's mistake."""


class SigningKeyError(BackendError):
    """The model-release signing key cannot be used: no key file (and creating one is off), a
    file group or others may read, or one that holds no Ed25519 private key. Names the file."""


class InvalidInputError(BackendError):
    """A request or label that breaks a rule; the message names the field and the value."""


class SafetyCaseError(InvalidInputError):
    """A safety case that cannot be used: not YAML, a node of unknown kind, a reference to no
    node, a ``supportedBy`` cycle, a goal left without support and not marked undeveloped, an
    SPI without a threshold... ``problems`` lists every one, each naming its node; the message
    joins them under the file's name."""

    def __init__(self, source: str, problems: list[str]) -> None:
        head = f"safety case {source}: {len(problems)} problem(s)"
        super().__init__("\n  ".join([head, *problems]))
        self.source = source
        self.problems = list(problems)


class AuthenticationError(BackendError):
    """A missing, unknown, expired or revoked credential."""


class PermissionDeniedError(BackendError):
    """An authenticated person whose role does not allow the action."""


class NotFoundError(BackendError):
    """The named object does not exist."""


class ConflictError(BackendError):
    """The request collides with what is stored."""


class StaleVersionError(ConflictError):
    """A save that started from an older version than the stored one."""

    def __init__(self, message: str, *, current_version: int) -> None:
        super().__init__(message)
        self.current_version = current_version


class LeaseError(ConflictError):
    """The caller holds no valid lease on what it tries to change."""


class UnavailableError(BackendError):
    """Nothing can be handed out right now; the message says why."""
