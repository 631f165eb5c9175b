"""``benchmarks.bench_demo`` on a short drive: the demo's summary, the machine and the offline
baseline land in the JSON the README's figures are read from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import bench_demo


@pytest.mark.slow
def test_records_the_demo_summary_the_machine_and_the_baseline(tmp_path: Path) -> None:
    out = tmp_path / "demo.json"
    assert (
        bench_demo.main(["--frames", "8", "--out", str(out), "--picture", str(tmp_path / "p.png")])
        == 0
    )
    result = json.loads(out.read_text())
    summary = result["summary"]
    assert summary["frames_driven"] == 8 and summary["agent_frames_per_s"] > 0
    assert result["baseline_offline_score"]["frames"] == 8
    assert result["baseline_offline_score"]["frames_per_s"] > 0
    assert result["agent_vs_offline_analysis"] == pytest.approx(
        summary["agent_frames_per_s"] / result["baseline_offline_score"]["frames_per_s"]
    )
    assert result["machine"]["cpu_count"] >= 1 and result["command"].endswith("--frames 8")
