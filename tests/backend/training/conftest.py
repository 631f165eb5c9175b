from __future__ import annotations

from pathlib import Path

import pytest

from tests.agent.perception.synthetic import build_tiny_package


@pytest.fixture(scope="session")
def tiny_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly trained tiny model package (its directory)."""
    return build_tiny_package(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def drives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small labelled synthetic drives: ``a``..``c`` hold deer (a rare class) every third
    object, ``old`` is earlier training data without any."""
    from tests.agent.perception.synthetic import write_dataset

    root = tmp_path_factory.mktemp("drives")
    return {
        "a": write_dataset(root / "a", 3, seed=21, rare_every=3),
        "b": write_dataset(root / "b", 2, seed=22, rare_every=3),
        "c": write_dataset(root / "c", 2, seed=23, rare_every=3),
        "old": write_dataset(root / "old", 4, seed=24),
    }
