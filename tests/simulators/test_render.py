"""Top-view rendering: box geometry and PNG output without a dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.formats.dataset import FrameLabels, ObjectLabel
from simulators.errors import RenderError
from simulators.render import render_top_view


def test_render_writes_a_png_coloured_either_way(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(-30, 30, (2000, 4)).astype(np.float32)
    points[:, 3] = rng.uniform(0, 1, 2000)
    labels = FrameLabels(0, 0, (0.0,) * 6, (ObjectLabel("car", 3, (8.0, 2.0, -0.9, 4.0, 1.8, 1.5, 0.3), 40),))  # fmt: skip
    for color_by in ("height", "intensity"):
        out = tmp_path / f"{color_by}.png"
        render_top_view(points, labels, out, color_by=color_by, extent=40.0)
        assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    render_top_view(points, None, tmp_path / "nolabels.png")
    assert (tmp_path / "nolabels.png").stat().st_size > 1000
    with pytest.raises(RenderError, match="color_by"):
        render_top_view(points, labels, tmp_path / "x.png", color_by="class")
    with pytest.raises(RenderError, match="cannot write"):
        render_top_view(points, labels, tmp_path / "missing" / "x.png")
