"""atomic_write_bytes at every crash point: the old file or the new one, never part of one, and a
durable write that returned survives power loss -- its new directories included."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.formats.atomic import atomic_write_bytes, ensure_directory
from tests.fixtures.crash import CrashKind, CrashRecorder, CrashState, check_every_crash

OLD, NEW = b"old contents " * 100, b"new contents, longer than the old " * 100
CREATED = b"created" * 1000


def _record(root: Path, durable: bool) -> CrashRecorder:
    (root / "a").mkdir(parents=True)
    (root / "a" / "f.bin").write_bytes(OLD)
    with CrashRecorder(root) as recorder:
        atomic_write_bytes(root / "a" / "f.bin", NEW, durable=durable)
        recorder.mark("replaced")
        atomic_write_bytes(root / "new" / "dir" / "g.bin", CREATED, durable=durable)
        recorder.mark("created")
    return recorder


def _visible(root: Path) -> dict[str, bytes]:
    """The files a reader sees: every name except the writer's temp files."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.name.endswith(".tmp")
    }


def test_a_durable_write_is_atomic_and_survives_every_crash(tmp_path: Path) -> None:
    recorder = _record(tmp_path / "root", durable=True)

    def check(state: CrashState) -> None:
        seen = _visible(state.root)
        assert seen["a/f.bin"] in ((NEW,) if state.happened("replaced") else (OLD, NEW))
        if state.happened("created"):
            assert seen.get("new/dir/g.bin") == CREATED
        assert seen.get("new/dir/g.bin", CREATED) == CREATED
        assert set(seen) <= {"a/f.bin", "new/dir/g.bin"}

    report = check_every_crash(recorder.trace, check, tmp_path / "states")
    assert report.calls >= 20  # two writes: temp file, fsync, rename, directory fsyncs
    assert all(n > 3 for n in report.distinct.values())


def test_a_non_durable_write_is_still_atomic_after_a_process_crash(tmp_path: Path) -> None:
    recorder = _record(tmp_path / "root", durable=False)

    def check(state: CrashState) -> None:
        seen = _visible(state.root)
        assert seen["a/f.bin"] in ((NEW,) if state.happened("replaced") else (OLD, NEW))
        assert seen.get("new/dir/g.bin", CREATED) == CREATED

    check_every_crash(recorder.trace, check, tmp_path / "states", kinds=(CrashKind.PROCESS,))


def test_ensure_directory_makes_each_new_level_durable(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with CrashRecorder(root) as recorder:
        ensure_directory(root / "x" / "y" / "z")
        recorder.mark("made")
        ensure_directory(root / "x" / "y" / "z")  # already there: no call at all
    assert recorder.trace.ops[-1].describe() == "mark('made')"

    def check(state: CrashState) -> None:
        if state.happened("made"):
            assert (state.root / "x" / "y" / "z").is_dir()

    check_every_crash(recorder.trace, check, tmp_path / "states")


def test_ensure_directory_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(FileExistsError):
        ensure_directory(tmp_path / "file" / "sub")
