"""Crash-safe file writes: a reader sees the old file or the new one, never half of one.

Durable here means it survives power loss, not only a crash of the process: the data is fsynced
before the rename that publishes it, and every directory entry the write creates -- the file's
name and any directory made on the way -- is fsynced in its parent directory before returning.
``tests/fixtures/crash`` checks this at every call boundary.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Flush a directory's entries (a creation, rename or unlink in it) to disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_directory(directory: Path) -> None:
    """Create ``directory`` and its missing parents so that they survive power loss.

    A directory made by ``mkdir`` is only an entry in its parent until the parent is fsynced: a
    power loss could take it, and every file later made durable inside it, away. Each missing
    level is created and its parent fsynced. An existing directory costs one ``stat``.
    """
    missing: list[Path] = []
    level = directory
    while not level.is_dir():
        missing.append(level)
        level = level.parent
    for level in reversed(missing):
        try:
            level.mkdir()
        except FileExistsError:
            if not level.is_dir():
                raise
            # made by a concurrent writer: its entry may not be durable yet, so sync it here too
        fsync_directory(level.parent)


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temp file in the same directory and a rename.

    With ``durable`` the file, its name and any directory created for it are fsynced, so the
    write survives power loss once this returns (see the module docstring).
    """
    if durable:
        ensure_directory(path.parent)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if durable:
        fsync_directory(path.parent)
