"""The exception tree of the vehicle package; every error the agent raises derives from AgentError.

::

    AgentError
    ├── ModelPackageError    a model package that is missing parts or inconsistent
    ├── ScoringError         inputs to the scoring kernels that have no defined result
    ├── SpoolError           the durable spool cannot accept or return a frame
    └── UploadError          a frame could not be delivered to the backend

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
