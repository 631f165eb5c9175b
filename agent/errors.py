"""The exception tree of the vehicle package; every error the agent raises derives from AgentError.

::

    AgentError
    ├── FormatError          a file or payload that cannot be read (names the file and the problem)
    ├── ConfigError          an agent option or trigger rule that is wrong (names the option)
    ├── ModelPackageError    a model package that is missing parts or inconsistent
    ├── ScoringError         inputs to the scoring kernels that have no defined result
    ├── SpoolError           the durable spool cannot accept or return a frame
    └── UploadError          a frame could not be delivered to the backend
"""

from __future__ import annotations


class AgentError(Exception):
    """Root of every error raised by ``agent``."""


class FormatError(AgentError):
    """A file or encoded payload that is truncated, wrongly sized, non-finite or malformed."""


class ConfigError(AgentError):
    """A configuration value or trigger expression that is invalid."""


class ModelPackageError(AgentError):
    """A model package that is missing files, has bad metadata or does not match its graph."""


class ScoringError(AgentError):
    """Scoring inputs with no defined result (wrong shapes, all-NaN rows where refused)."""


class SpoolError(AgentError):
    """The on-disk spool could not store or return a frame."""


class UploadError(AgentError):
    """A frame could not be delivered to the ingest service."""
