"""The exception tree of the simulators package.

::

    SimulatorError
    ├── ScenarioError    a scenario file or setting that is wrong (names the file and the key)
    └── RenderError      a dataset frame that cannot be rendered (names the directory and index)
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Root of every error raised by ``simulators``."""


class ScenarioError(SimulatorError):
    """A scenario file that is missing, unparsable or holds an invalid value."""


class RenderError(SimulatorError):
    """A frame that cannot be drawn (missing frame, no labels where needed, bad output path)."""
