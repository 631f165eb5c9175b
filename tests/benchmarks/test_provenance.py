"""Results cannot go stale silently: every JSON in benchmarks/results/ matches the code it measured
(the checkout's, or -- explicitly marked -- an older commit's, verified with git)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.provenance import (
    RESULTS_DIR,
    ROOT,
    ProvenanceError,
    code_closure,
    data_files,
    fingerprint,
    portable,
    status,
)

RESULTS = sorted(RESULTS_DIR.glob("*.json"))


def test_every_benchmark_has_results() -> None:
    benchmarks = {p.stem.removeprefix("bench_") for p in (ROOT / "benchmarks").glob("bench_*.py")}
    assert benchmarks <= {p.stem for p in RESULTS}


@pytest.mark.parametrize("path", RESULTS, ids=[p.name for p in RESULTS])
def test_each_result_matches_the_code_it_measured(path: Path) -> None:
    state, changed = status(path)
    entries = json.loads(path.read_text())["provenance"]["entries"]
    assert state in ("current", "older"), (
        f"{path.name} was measured on other code (changed: {', '.join(changed)}): re-run "
        f"{' and '.join(entries)}, or if quoting it is still honest, mark it with "
        f"`python -m benchmarks.provenance mark-older {path.relative_to(ROOT)}`"
    )


class FakeTree:
    """A repository version held in memory."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self._files = files

    def files(self) -> frozenset[str]:
        return frozenset(self._files)

    def read(self, path: str) -> bytes:
        return self._files[path]


def _tree(changes: dict[str, bytes] | None = None) -> FakeTree:
    files = {
        "benchmarks/__init__.py": b"",
        "benchmarks/bench_x.py": b"import numpy\nfrom core.a import f\n",
        "core/__init__.py": b"",
        "core/a.py": b"from . import b\n\ndef f():\n    from core.c import g\n",
        "core/b.py": b"x = 1\n",
        "core/c.py": b"g = 2\n",
        "core/unused.py": b"",
        "core/data/table.toml": b"k = 1\n",
        "agent/__init__.py": b"",
        "agent/model.onnx": b"weights",
    }
    return FakeTree({**files, **(changes or {})})


def test_the_closure_follows_relative_and_function_level_imports_and_packages() -> None:
    tree = _tree()
    code = code_closure(["benchmarks.bench_x"], tree)
    assert code == [
        "benchmarks/__init__.py",
        "benchmarks/bench_x.py",
        "core/__init__.py",
        "core/a.py",
        "core/b.py",
        "core/c.py",
    ]
    assert data_files(code, tree) == ["core/data/table.toml"]  # agent/ is not imported
    with pytest.raises(
        ProvenanceError, match=r"entry module 'benchmarks\.nope' is not in the repo"
    ):
        code_closure(["benchmarks.nope"], tree)


def test_the_digest_changes_with_code_data_and_parameters_but_not_unused_files() -> None:
    base = fingerprint(["benchmarks.bench_x"], {"n": 1}, _tree())["digest"]
    assert (
        fingerprint(["benchmarks.bench_x"], {"n": 1}, _tree({"core/unused.py": b"y=3"}))["digest"]
        == base
    )
    for changed in (
        _tree({"core/c.py": b"g = 3\n"}),
        _tree({"core/data/table.toml": b"k = 2\n"}),
    ):
        assert fingerprint(["benchmarks.bench_x"], {"n": 1}, changed)["digest"] != base
    assert fingerprint(["benchmarks.bench_x"], {"n": 2}, _tree())["digest"] != base


def test_a_stale_result_names_what_changed_and_a_forged_digest_is_refused(tmp_path: Path) -> None:
    result = tmp_path / "x.json"
    record = fingerprint(["benchmarks.bench_x"], {"n": 1}, _tree())
    result.write_text(json.dumps({"value": 3.0, "provenance": record}))
    assert status(result, _tree()) == ("current", [])
    assert status(result, _tree({"core/b.py": b"x = 2\n"})) == ("stale", ["core/b.py"])
    record["parameters"] = {"n": 5}  # edited by hand: no longer what was run
    result.write_text(json.dumps({"value": 3.0, "provenance": record}))
    with pytest.raises(ProvenanceError, match="digest does not match its own fields"):
        status(result, _tree())
    result.write_text(json.dumps({"value": 3.0}))
    with pytest.raises(ProvenanceError, match=r"x\.json: no provenance record"):
        status(result, _tree())


def test_parameters_name_no_path_of_this_machine(tmp_path: Path) -> None:
    assert portable({"package": ROOT / "agent" / "models", "out": tmp_path / "r.json"}) == {
        "package": "agent/models",
        "out": "r.json",
    }
    assert portable([Path("x"), 3, "s"]) == [Path("x").resolve().name, 3, "s"]
