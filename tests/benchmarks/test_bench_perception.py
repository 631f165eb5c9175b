"""``bench_perception --provider cuda`` times the GPU or refuses: never a silent CPU fallback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent.perception.network import CUDA, _gpu_present

ROOT = Path(__file__).resolve().parents[2]


def test_the_cuda_provider_is_timed_on_the_gpu_or_refused(tmp_path: Path) -> None:
    out = tmp_path / "perception_cuda.json"
    args = ["--provider", "cuda", "--frames", "2", "--repeats", "1", "--baseline-frames", "1"]
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_perception", *args, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if _gpu_present():  # a machine with a GPU: the benchmark runs, and on CUDA
        assert result.returncode == 0, result.stderr[-3000:]
        assert json.loads(out.read_text())["providers"][0] == CUDA
    else:
        assert result.returncode == 2, result.stderr[-3000:]
        assert "--provider cuda: the network runs on CPUExecutionProvider" in result.stderr
        assert not out.exists()
