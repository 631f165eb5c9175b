"""A small real registry for the retraining tests: copies each package into ``dest/<version>``
with its record, the way a registry takes ownership of a finished package."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from backend.training.retrain import RunRecord


class CopyRegistry:
    def __init__(self, dest: Path) -> None:
        self.dest = dest
        dest.mkdir(parents=True, exist_ok=True)

    def versions(self) -> list[str]:
        return sorted(p.name for p in self.dest.iterdir())

    def __call__(self, package_dir: Path, record: RunRecord) -> str:
        version = f"v{len(self.versions()) + 1}"
        shutil.copytree(package_dir, self.dest / version)
        (self.dest / version / "record.json").write_text(json.dumps(record.to_json()))
        return version
