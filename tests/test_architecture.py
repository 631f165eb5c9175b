"""The dependency rules of DESIGN.md, checked on the source, on a running daemon's imports and on
the installed package's metadata: the vehicle stays small and depends on nothing of the cloud."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: third-party packages the vehicle must never load or install (DESIGN.md, "Dependencies point one way")
CLOUD_ONLY = {
    "fastapi",
    "uvicorn",
    "starlette",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "boto3",
    "torch",
    "open3d",
    "matplotlib",
    "crowdkit",
    "scipy",
    "sklearn",
}

#: package -> top-level names it must not import
FORBIDDEN = {
    "core": {"agent", "backend", "simulators", "benchmarks", "tests", "grpc", "onnxruntime"}
    | CLOUD_ONLY,
    "agent": {"backend", "simulators", "benchmarks", "tests"} | CLOUD_ONLY,
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


SOURCES = [
    (package, path)
    for package in sorted(FORBIDDEN)
    for path in sorted((ROOT / package).rglob("*.py"))
]


@pytest.mark.parametrize(
    ("package", "path"), SOURCES, ids=[str(p.relative_to(ROOT)) for _, p in SOURCES]
)
def test_vehicle_side_imports_nothing_from_the_cloud_or_simulators(
    package: str, path: Path
) -> None:
    bad = imported_top_levels(path) & FORBIDDEN[package]
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}; {package} must stay small"


#: the cloud's process wiring may start a simulator (the demo drives one); nothing else may
CLOUD_WIRING = {
    ROOT / "backend" / "cli.py",
    ROOT / "backend" / "demo.py",
    ROOT / "backend" / "demo_loop.py",
}
CLOUD_SOURCES = sorted(p for p in (ROOT / "backend").rglob("*.py") if p not in CLOUD_WIRING)


@pytest.mark.parametrize("path", CLOUD_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_cloud_does_not_depend_on_the_simulators(path: Path) -> None:
    bad = imported_top_levels(path) & {"simulators", "benchmarks", "tests"}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: pass data in, not simulators"


def test_the_rule_is_checked_on_real_files() -> None:
    assert sum(1 for package, _ in SOURCES if package == "agent") >= 20
    assert sum(1 for package, _ in SOURCES if package == "core") >= 15
    assert "core" in imported_top_levels(ROOT / "agent" / "daemon" / "app.py")
    assert "sqlalchemy" in imported_top_levels(ROOT / "backend" / "metadata" / "db.py")
    assert "simulators" in imported_top_levels(ROOT / "backend" / "demo.py")
    assert len(CLOUD_SOURCES) >= 40


def test_a_running_daemon_loads_no_cloud_package() -> None:
    """Build the daemon's whole pipeline (model, scoring, selection, spool, uploader) in a fresh
    interpreter and list what got imported: the vehicle must not pay for the cloud's stack.

    The cloud-only packages are made unimportable first, as on the vehicle where they are not
    installed: numba imports scipy whenever it is installed (a version check in its
    ``__init__``), which would list a package our code never asked for; a direct import by our
    code now fails the daemon instead."""
    code = f"""
import importlib.abc, json, sys
class Vehicle(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {sorted(CLOUD_ONLY)!r}:
            raise ModuleNotFoundError(f"{{name}}: cloud-only, not installed on the vehicle")
        return None
sys.meta_path.insert(0, Vehicle())
from agent.cli import main  # the entry point the vehicle runs
from agent.daemon.app import Daemon, build_analyzer
from agent.config import AgentConfig
build_analyzer(AgentConfig())      # loads the ONNX model and the scoring kernels
print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "onnxruntime" in loaded and "numba" in loaded  # the check sees real imports
    forbidden = CLOUD_ONLY | {"backend", "simulators"}
    assert not loaded & forbidden, sorted(loaded & forbidden)


def _requirement_names(dist: str, extras: set[str]) -> set[str]:
    names = set()
    for req in metadata.requires(dist) or []:
        name, _, marker = req.partition(";")
        wanted = re.findall(r'extra\s*==\s*"([^"]+)"', marker)
        if wanted and not set(wanted) & extras:
            continue
        base = re.split(r"[\s\[<>=!~;]", name.strip(), maxsplit=1)[0]
        names.add(base.lower().replace("_", "-"))
    return names


def _closure(dist: str, extras: set[str]) -> set[str]:
    """Every distribution ``pip install dist[extras]`` pulls in, from the installed metadata."""
    seen: set[str] = set()
    todo = [(dist, extras)]
    while todo:
        name, wanted = todo.pop()
        for req in _requirement_names(name, wanted):
            if req in seen:
                continue
            seen.add(req)
            try:
                metadata.distribution(req)
            except metadata.PackageNotFoundError:
                continue  # a platform-specific requirement not installed here
            todo.append((req, set()))
    return seen


def test_the_vehicle_install_pulls_no_cloud_dependency() -> None:
    vehicle = _closure("longtail", {"vehicle"})
    assert {"numpy", "onnxruntime-gpu", "grpcio", "zstandard"} <= vehicle
    cloud_dists = {"fastapi", "uvicorn", "starlette", "sqlalchemy", "alembic", "psycopg"}
    cloud_dists |= {"boto3", "torch", "open3d", "matplotlib", "scipy", "scikit-learn"}
    assert not vehicle & cloud_dists, sorted(vehicle & cloud_dists)
    # and the cloud set does carry them: the check reads real metadata
    assert {"fastapi", "sqlalchemy", "torch"} <= _closure("longtail", {"cloud"})
