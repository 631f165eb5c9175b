"""Paths as they are written into results and model metadata: never a machine's absolute path."""

from __future__ import annotations

import os
from pathlib import Path


def portable_path(path: str | os.PathLike[str], base: Path | None = None) -> str:
    """``path`` relative to ``base`` (default: the working directory) when it lies inside it,
    else just its final name, so JSON that is committed names no directory of this machine."""
    resolved = Path(path).resolve()
    root = (base or Path.cwd()).resolve()
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return resolved.name
