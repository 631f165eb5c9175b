"""Runs the CUDA kernel cases under the numba CUDA simulator, in a subprocess.

``NUMBA_ENABLE_CUDASIM`` is read when numba is first imported, so the simulator cannot be
switched on inside this process (which has imported numba for the CPU kernels already).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CASES = Path(__file__).with_name("cuda_sim_cases.py")


def test_cuda_kernels_match_the_reference_under_the_simulator() -> None:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CASES)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout
