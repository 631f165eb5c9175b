"""The drive every crowd test labels: 8 frames of a city street (common road users), simulated
once per session with per-point ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.simulators.crowd.server import make_drive


@pytest.fixture(scope="session")
def drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_drive(tmp_path_factory.mktemp("crowd") / "drive", frames=8, seed=3)
