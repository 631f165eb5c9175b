"""The exception tree of the cloud package; every error the backend raises derives from BackendError.

::

    BackendError
    ├── StorageError       a blob or metadata store failed; ``retryable`` says whether to try again
    ├── TrainingError      a dataset or training run that cannot produce a model
    ├── EvaluationError    predictions or ground truth that cannot be scored
    └── QualityError       labels that annotation QA cannot compare (shapes, lengths, settings)

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


class EvaluationError(BackendError):
    """Predictions or ground truth that cannot be evaluated."""


class QualityError(BackendError):
    """Labels or settings that annotation QA cannot compare: mismatched shapes or lengths, unknown
    classes or categories, thresholds out of range. The message names the input and the value."""
