from __future__ import annotations

from pathlib import Path

import pytest

from tests.agent.perception.synthetic import build_tiny_package


@pytest.fixture(scope="session")
def tiny_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly trained tiny model package (its directory)."""
    return build_tiny_package(tmp_path_factory.mktemp("tiny"))
