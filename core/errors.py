"""The exception tree of the shared core; what both the vehicle and the cloud can raise.

::

    CoreError
    ├── FormatError          a file or payload that cannot be read (names the file and the problem)
    │   └── ArchiveError     a model archive that is malformed or unsafe (a path outside its
    │                        folder, a link, an unexpected file), or whose digest is not the one
    │                        expected (``core.formats.model_archive``)
    ├── SignatureError       a model archive with no signature, a malformed one, or one the
    │                        trusted public key did not make
    └── ConfigError          an option, config file or environment override that is wrong
        └── ExpressionError  a rule expression that does not parse (``core.expr``; carries the column)

Each deployable adds its own root beside this one (``agent.errors.AgentError``,
``backend.errors.BackendError``, ``simulators.errors.SimulatorError``); a CLI catches its own
root and this one and prints the message without a traceback.
"""

from __future__ import annotations


class CoreError(Exception):
    """Root of every error raised by ``core``."""


class FormatError(CoreError):
    """A file or encoded payload that is truncated, wrongly sized, non-finite or malformed."""


class ArchiveError(FormatError):
    """A model archive that cannot be packed or unpacked safely, or does not match its digest."""


class SignatureError(CoreError):
    """A model archive whose Ed25519 signature is missing, malformed or not made by the trusted
    key; the message names the archive digest and the key."""


class ConfigError(CoreError):
    """A configuration value, file or rule expression that is invalid.

    ``problems`` holds every problem found when a loader reports them all at once (each a
    ``"location: message"`` line); ``str(error)`` joins them.
    """

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems or (message,)


class ExpressionError(ConfigError):
    """An expression that does not tokenize, parse or name only known signals.

    ``column`` is 1-based within the expression text.
    """

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} at column {column}")
        self.reason = message
        self.column = column
