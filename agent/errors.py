"""The exception tree of the vehicle package; every error the agent raises derives from AgentError.

::

    AgentError
    ├── ModelPackageError    a model package that is missing parts or inconsistent
    ├── ScoringError         inputs to the scoring kernels that have no defined result
    ├── SpoolError           the durable spool cannot accept or return a frame
    ├── UploadError          a frame could not be delivered to the backend
    └── UpdateError          a model update that could not be fetched, installed or swapped in
        ├── UpdateUnavailableError  the backend could not be reached or refused for now: retry later
        └── PackageRefusedError     a package that failed its digest, signature or load check:
                                    deleted, reported, never run (the running model keeps running)

Bad files and bad options are ``core.errors.FormatError`` and ``core.errors.ConfigError`` (the
shared core reads the files and loads the config); the agent's CLI catches both roots.
"""

from __future__ import annotations


class AgentError(Exception):
    """Root of every error raised by ``agent``."""


class ModelPackageError(AgentError):
    """A model package that is missing files, has bad metadata or does not match its graph."""


class ScoringError(AgentError):
    """Scoring inputs with no defined result (wrong shapes, all-NaN rows where refused)."""


class SpoolError(AgentError):
    """The on-disk spool could not store or return a frame."""


class UploadError(AgentError):
    """A frame could not be delivered to the ingest service."""


class UpdateError(AgentError):
    """A model update that could not be fetched, installed or swapped in."""


class UpdateUnavailableError(UpdateError):
    """The model-updates service could not be reached or answered with a retryable refusal."""


class PackageRefusedError(UpdateError):
    """A package that is tampered, unsigned, signed by another key, malformed or that does not
    load; ``version`` names it. The message says which check failed, with the values."""

    def __init__(self, version: str, message: str) -> None:
        super().__init__(f"model {version!r} refused: {message}")
        self.version = version
        self.reason = message
