"""The pages' own pure code (box-frame maths for the mouse, undo/redo, the shortcut table, point
selection, the point-label codec, the coarse-first points reader, the sequence geometry (poses,
interpolation, propagation), the safety case's graph layout, the dashboards' number formats and
the SOTIF page's grouping) under Node's test runner: ``npm test`` in ``annotator/``
(annotator/tests/*.test.ts)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "annotator"


def test_the_javascript_unit_tests_pass() -> None:
    npm = shutil.which("npm")
    assert npm, "npm is missing: run `make setup` (.ci/sysdeps.sh)"
    assert (APP / "node_modules").is_dir(), "run `make setup` (npm ci in annotator/)"
    run = subprocess.run(
        [npm, "test", "--silent"], cwd=APP, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "# fail 0" in run.stdout and "# pass 32" in run.stdout, run.stdout[-2000:]
