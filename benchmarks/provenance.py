"""What a results JSON measured, so that a result cannot go stale silently.

Every JSON in ``benchmarks/results/`` carries a ``provenance`` record::

    "provenance": {
      "entries": ["benchmarks.bench_codec"],      # the program(s) that produced the result
      "parameters": {"repeats": 15, ...},         # its arguments (paths relative to the repo)
      "files": {"core/formats/codec.py": "<sha256>", ...},
      "digest": "<sha256 of entries, parameters and files>",
      "measured_on_commit": "<40 hex>"            # only on a result marked as older, see below
    }

``files`` is the project code the entries import -- the transitive closure, read from the import
statements of every module reached (imports inside functions included) -- plus the data files of
the top-level packages that code lives in (scenario TOML, the shipped model, ...): what the run
computed with. ``tests/benchmarks/test_provenance.py`` recomputes the digest from the checkout and
fails when it differs. Then either re-run the benchmark, or, where quoting the old numbers is
honest, mark the result as measured on the newest commit whose code it matches::

    python -m benchmarks.provenance check                  # which results are current
    python -m benchmarks.provenance mark-older FILE...     # records measured_on_commit
    python -m benchmarks.provenance stamp FILE --entries M # for results a CLI wrote (make baseline)

A marked result is checked against that commit's files (``git``), so the mark cannot lie either.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
#: top-level packages of the project and the repo directory that holds each
PACKAGES = {
    "core": "core",
    "agent": "agent",
    "backend": "backend",
    "simulators": "simulators",
    "benchmarks": "benchmarks",
    "longtail": "proto/longtail",
    "tests": "tests",  # benchmarks/bench_crash_points.py counts what the crash tests check
}
#: never inputs: the results themselves (a stamp would change every digest) and build litter
_EXCLUDED_PREFIXES = ("benchmarks/results/",)
_EXCLUDED_PARTS = {"__pycache__"}
_EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".nbi", ".nbc", ".pyi")
#: imported by every benchmark but measures nothing: editing it must not stale every result
_BOOKKEEPING = frozenset({"benchmarks/provenance.py"})


class ProvenanceError(Exception):
    """A results file whose provenance is missing, malformed or cannot be checked."""


class Tree(Protocol):
    """One version of the repository: the checkout on disk, or a commit."""

    def files(self) -> frozenset[str]:
        """Every file, '/'-separated and relative to the repository root."""
        ...

    def read(self, path: str) -> bytes:
        """A file's bytes."""
        ...


def _kept(path: str) -> bool:
    parts = path.split("/")
    return not (
        path.startswith(_EXCLUDED_PREFIXES)
        or _EXCLUDED_PARTS.intersection(parts)
        or any(p.startswith(".") for p in parts)
        or path.endswith(_EXCLUDED_SUFFIXES)
    )


class WorkingTree:
    """The files on disk under the package directories of ``root``."""

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root

    def files(self) -> frozenset[str]:
        found: set[str] = set()
        for top in PACKAGES.values():
            for dirpath, dirnames, filenames in os.walk(self.root / top):
                dirnames[:] = [d for d in dirnames if d not in _EXCLUDED_PARTS]
                rel = Path(dirpath).relative_to(self.root).as_posix()
                found.update(f"{rel}/{name}" for name in filenames)
        return frozenset(p for p in found if _kept(p))

    def read(self, path: str) -> bytes:
        return (self.root / path).read_bytes()


class Commit:
    """The files of a git commit (read with ``git ls-tree`` and ``git cat-file``)."""

    def __init__(self, commit: str, root: Path = ROOT) -> None:
        self.commit = commit
        self.root = root
        self._cache: dict[str, bytes] = {}

    def _git(self, *args: str) -> bytes:
        try:
            out = subprocess.run(
                ["git", *args], cwd=self.root, capture_output=True, check=True, timeout=120
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            raise ProvenanceError(
                f"git {' '.join(args)} failed in {self.root} (the check of a result marked as "
                f"measured on commit {self.commit} needs the git history): {exc} {detail.decode()}"
            ) from exc
        return out.stdout

    def files(self) -> frozenset[str]:
        tops = sorted(PACKAGES.values())
        listing = self._git("ls-tree", "-r", "--name-only", "-z", self.commit, "--", *tops)
        return frozenset(p for p in listing.decode().split("\0") if p and _kept(p))

    def read(self, path: str) -> bytes:
        if path not in self._cache:
            self._cache[path] = self._git("cat-file", "blob", f"{self.commit}:{path}")
        return self._cache[path]


def module_file(module: str, files: frozenset[str]) -> str | None:
    """The file of a project module in ``files`` (a module or a package), None if not ours."""
    top, _, rest = module.partition(".")
    if top not in PACKAGES:
        return None
    base = PACKAGES[top] + ("/" + rest.replace(".", "/") if rest else "")
    for candidate in (f"{base}.py", f"{base}/__init__.py"):
        if candidate in files:
            return candidate
    return None


def _imported(source: bytes, module: str, is_package: bool, path: str) -> set[str]:
    """Module names the source imports anywhere (functions included), relative ones resolved."""
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise ProvenanceError(f"{path}: cannot parse: {exc}") from exc
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)  # maybe submodules
    return names


def code_closure(entries: Sequence[str], tree: Tree) -> list[str]:
    """The project files the entry modules import, transitively, with their parent packages."""
    files = tree.files()
    seen: set[str] = set()
    queue = list(entries)
    while queue:
        module = queue.pop()
        path = module_file(module, files)
        if path is None:
            if module in entries:
                raise ProvenanceError(f"entry module {module!r} is not in the repository")
            continue
        parts = module.split(".")
        queue.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parents run too
        if path in seen or path in _BOOKKEEPING:
            continue
        seen.add(path)
        queue.extend(_imported(tree.read(path), module, path.endswith("__init__.py"), path))
    return sorted(seen)


def data_files(code: Iterable[str], tree: Tree) -> list[str]:
    """Every non-Python file of the top-level packages that ``code`` lives in."""
    tops = {top for top in PACKAGES.values() for path in code if path.startswith(top + "/")}
    return sorted(
        p
        for p in tree.files()
        if not p.endswith(".py") and any(p.startswith(t + "/") for t in tops)
    )


def portable(value: Any) -> Any:
    """Parameters as JSON: paths inside the repository relative to it (never a machine path)."""
    if isinstance(value, Path):
        resolved = value.resolve()
        try:
            return resolved.relative_to(ROOT).as_posix()
        except ValueError:
            return resolved.name
    if isinstance(value, list | tuple):
        return [portable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): portable(v) for k, v in value.items()}
    return value


def fingerprint(
    entries: Sequence[str], parameters: Mapping[str, Any], tree: Tree
) -> dict[str, Any]:
    """The provenance record of a run of ``entries`` with ``parameters`` on ``tree``."""
    code = code_closure(entries, tree)
    files = {p: hashlib.sha256(tree.read(p)).hexdigest() for p in code + data_files(code, tree)}
    record: dict[str, Any] = {
        "entries": list(entries),
        "parameters": portable(dict(parameters)),
        "files": dict(sorted(files.items())),
    }
    record["digest"] = _digest(record)
    return record


def _digest(record: Mapping[str, Any]) -> str:
    body = {k: record[k] for k in ("entries", "parameters", "files")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def provenance(
    entries: Sequence[str], parameters: Mapping[str, Any], skip: Iterable[str] = ("out",)
) -> dict[str, Any]:
    """The record a benchmark stores with its results: its code as it is now on disk and its
    ``parameters`` (an argparse namespace's ``vars``) without the ``skip`` keys (output paths)."""
    kept = {k: v for k, v in parameters.items() if k not in set(skip)}
    return fingerprint(entries, kept, WorkingTree())


def status(result_path: Path, tree: Tree | None = None) -> tuple[str, list[str]]:
    """``("current" | "older" | "stale", changed files)`` of one results JSON.

    ``current``: its digest is the checkout's. ``older``: marked with ``measured_on_commit``
    and its digest is that commit's (the mark is verified, not trusted). ``stale``: neither;
    the list names the files added, removed or changed since the measured code.
    """
    record = load(result_path)
    recorded = {k: record[k] for k in ("entries", "parameters", "files")}
    if _digest(recorded) != record["digest"]:
        raise ProvenanceError(
            f"{result_path.name}: provenance digest does not match its own fields"
        )
    measured_on = record.get("measured_on_commit")
    base = Commit(measured_on) if measured_on else (tree or WorkingTree())
    now = fingerprint(record["entries"], record["parameters"], base)
    if now["digest"] == record["digest"]:
        return ("older" if measured_on else "current"), []
    old, new = record["files"], now["files"]
    changed = sorted(p for p in old.keys() | new.keys() if old.get(p) != new.get(p))
    if measured_on:
        raise ProvenanceError(
            f"{result_path.name}: marked as measured on commit {measured_on}, but that commit's "
            f"code differs from what it records: {', '.join(changed[:8]) or 'the parameters'}"
        )
    return "stale", changed


def load(result_path: Path) -> dict[str, Any]:
    """The provenance record of a results JSON (ProvenanceError if it has none)."""
    try:
        data = json.loads(result_path.read_text())
    except (OSError, ValueError) as exc:
        raise ProvenanceError(f"{result_path}: not a readable JSON file: {exc}") from exc
    record = data.get("provenance") if isinstance(data, dict) else None
    keys = {"entries", "parameters", "files", "digest"}
    if not isinstance(record, dict) or not keys <= record.keys():
        raise ProvenanceError(
            f"{result_path.name}: no provenance record with {sorted(keys)}; write one with "
            "benchmarks.provenance.provenance() when the results are written"
        )
    return record


def mark_older(result_path: Path, max_commits: int = 500) -> str:
    """Record in ``result_path`` the newest commit whose code matches its digest; returns it."""
    data = json.loads(result_path.read_text())
    record = data["provenance"]
    listing = Commit("HEAD")._git("rev-list", f"--max-count={max_commits}", "HEAD")
    for commit in listing.decode().split():
        try:
            digest = fingerprint(record["entries"], record["parameters"], Commit(commit))["digest"]
        except ProvenanceError:  # a commit from before the benchmark existed (merged history)
            continue
        if digest == record["digest"]:
            record["measured_on_commit"] = commit
            result_path.write_text(json.dumps(data, indent=2) + "\n")
            return commit
    raise ProvenanceError(
        f"{result_path.name}: no commit among the last {max_commits} has the code it measured "
        "(measured on uncommitted code?): re-run the benchmark"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="the status of every results JSON")
    mark = sub.add_parser("mark-older", help="mark results as measured on an older commit")
    mark.add_argument("files", nargs="+", type=Path)
    stamp = sub.add_parser("stamp", help="record the checkout's provenance in a results JSON")
    stamp.add_argument("file", type=Path)
    stamp.add_argument("--entries", nargs="+", required=True, help="the modules that wrote it")
    stamp.add_argument("--param", nargs="*", default=[], help="KEY=VALUE: the run's arguments")
    args = parser.parse_args(argv)
    if args.command == "stamp":
        data = json.loads(args.file.read_text())
        params = dict(item.split("=", 1) for item in args.param)
        data["provenance"] = fingerprint(args.entries, params, WorkingTree())
        args.file.write_text(json.dumps(data, indent=2) + "\n")
        return 0
    if args.command == "mark-older":
        for path in args.files:
            print(f"{path.name}: measured on {mark_older(path)}")
        return 0
    worst = 0
    for path in sorted(RESULTS_DIR.glob("*.json")):
        try:
            state, changed = status(path)
        except ProvenanceError as exc:
            state, changed = f"error: {exc}", []
        worst = max(worst, state != "current" and state != "older")
        print(f"{path.name}: {state}" + (f" ({', '.join(changed)})" if changed else ""))
    return worst


if __name__ == "__main__":
    sys.exit(main())
