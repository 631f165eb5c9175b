"""The annotation stage's durable writes, run as a program for the system-call recorder
(tests/fixtures/crash/syscalls.py) over a backend whose SQLite file and blob directory both lie
under one data directory.

``python -m tests.backend.recorded_writes save DATA_DIR SPEC``: label saves of a leased
assignment; ``SPEC`` (a JSON file outside DATA_DIR) holds ``token``, ``assignment``, ``base``
(the version the first save starts from), ``bodies`` (one per save) and ``now`` (ISO time of the
backend's clock). Marks ``saved <version>`` as each save returns.

``python -m tests.backend.recorded_writes version DATA_DIR SPEC``: one dataset version build;
``SPEC`` holds ``vehicles`` (the filter), ``name`` and ``now``. Marks ``built <digest>``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.fixtures.crash.syscalls import mark
from tests.fixtures.planted import install

if TYPE_CHECKING:
    from backend.wiring import Backend

# The project's modules are imported inside the functions: a bug planted by
# tests/test_planted_bugs.py (LONGTAIL_PLANTED_BUG, inherited) must be installed before them.


def _backend(data_dir: Path, spec: dict[str, Any]) -> Backend:
    from backend.wiring import build_backend, local_config

    now = datetime.fromisoformat(spec["now"])
    return build_backend(local_config(data_dir), clock=lambda: now)


def save(data_dir: Path, spec: dict[str, Any]) -> None:
    backend = _backend(data_dir, spec)
    try:
        who = backend.people.authenticate(spec["token"])
        version = int(spec["base"])
        for body in spec["bodies"]:
            version = backend.annotation.editor.save(
                who, int(spec["assignment"]), version, body, draft=True
            )
            mark(f"saved {version}")
    finally:
        backend.close()


def version(data_dir: Path, spec: dict[str, Any]) -> None:
    from backend.datasets.snapshot import DatasetFilter
    from backend.datasets.versions import DatasetVersions

    backend = _backend(data_dir, spec)
    try:
        now = datetime.fromisoformat(spec["now"])
        built = DatasetVersions(backend.db, backend.blobs, lambda: now).build(
            DatasetFilter(vehicles=tuple(spec["vehicles"])), author="crash", name=spec["name"]
        )
        mark(f"built {built.version.digest}")
    finally:
        backend.close()


def main(argv: list[str]) -> int:
    install()
    command, data_dir, spec_path = argv
    spec = json.loads(Path(spec_path).read_text())
    {"save": save, "version": version}[command](Path(data_dir), spec)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
