"""The dependency rules of DESIGN.md, checked on the source: the vehicle package stays small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: top-level modules the vehicle package must never import (DESIGN.md, "Dependencies point one way")
FORBIDDEN_IN_AGENT = {
    "backend",
    "simulators",
    "benchmarks",
    "tests",
    "fastapi",
    "uvicorn",
    "starlette",
    "sqlalchemy",
    "alembic",
    "boto3",
    "torch",
    "open3d",
}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


AGENT_FILES = sorted((ROOT / "agent").rglob("*.py"))


@pytest.mark.parametrize("path", AGENT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_agent_imports_nothing_from_the_cloud_or_simulators(path: Path) -> None:
    bad = imported_top_levels(path) & FORBIDDEN_IN_AGENT
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}; the agent must stay small"


def test_the_rule_is_checked_on_real_files() -> None:
    assert len(AGENT_FILES) >= 5
    assert "agent" in imported_top_levels(ROOT / "agent" / "formats" / "dataset.py")
