"""``longtail backend vehicles …`` and ``sweep`` through the real CLI entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.auth.tokens import hash_token
from backend.cli import main
from backend.metadata.db import make_engine
from backend.metadata.migrate import head_revision
from backend.metadata.unit_of_work import Database
from backend.server_cli import EXAMPLE_CONFIG

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "backend.toml"
    path.write_text(
        '[storage]\npath = "blobs"\nstaging_path = "staging"\n[metadata]\nurl = "sqlite:///m.db"\n'
    )
    return path


def test_vehicles_add_prints_a_token_once_and_stores_only_its_hash(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backend", "vehicles", "add", "car-7", "--config", str(config)]) == 0
    token = capsys.readouterr().out.strip()
    assert len(token) >= 43
    db = Database(make_engine(f"sqlite:///{config.parent / 'm.db'}"))
    try:
        with db.transaction("t") as uow:
            found = uow.vehicles.by_token_hash(hash_token(token))
        assert found is not None and found[0].name == "car-7"
        assert token not in (config.parent / "m.db").read_bytes().decode("latin-1")
    finally:
        db.close()


def test_vehicles_list_and_revoke(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["backend", "--config", str(config), "vehicles", "add", "car-1"])
    main(["backend", "--config", str(config), "vehicles", "add", "car-2"])
    assert main(["backend", "--config", str(config), "vehicles", "revoke", "car-2"]) == 0
    capsys.readouterr()
    assert main(["backend", "--config", str(config), "vehicles", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["car-1", "car-2"]
    assert lines[0].endswith("active") and "revoked" in lines[1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["vehicles", "add", "bad name!"], "vehicle name 'bad name!' is invalid"),
        (["vehicles", "revoke", "ghost"], "no vehicle named 'ghost'"),
    ],
)
def test_user_errors_print_a_message_and_exit_2(
    config: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["backend", "--config", str(config), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_duplicate_vehicle_is_a_user_error(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["backend", "--config", str(config), "vehicles", "add", "car-1"])
    assert main(["backend", "--config", str(config), "vehicles", "add", "car-1"]) == 2
    assert "already registered" in capsys.readouterr().err


def test_sweep_reports_what_it_did(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backend", "--config", str(config), "sweep", "--grace-s", "0"]) == 0
    assert "checked 0 blobs, removed 0 orphans" in capsys.readouterr().out


def run_longtail(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGTAIL_")}
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**env, "PYTHONPATH": str(REPO_ROOT)},
    )


def test_backend_commands_are_quiet_unless_verbose(tmp_path: Path) -> None:
    (tmp_path / "backend.toml").write_text(EXAMPLE_CONFIG.read_text())
    first = run_longtail("backend", "migrate", "--config", "backend.toml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    head = head_revision()
    assert first.stdout.startswith(f"metadata schema at revision {head}: sqlite:///")
    # one line says that the schema was created; none of Alembic's own
    assert "alembic" not in first.stderr
    assert f"upgraded from empty to {head}" in first.stderr
    again = run_longtail("backend", "vehicles", "list", "--config", "backend.toml", cwd=tmp_path)
    assert again.returncode == 0 and again.stderr == ""
    verbose = run_longtail("-v", "backend", "migrate", "--config", "backend.toml", cwd=tmp_path)
    assert "INFO alembic.runtime.migration: Context impl SQLiteImpl." in verbose.stderr


def test_the_shipped_example_passes_check_config_as_shipped_and_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backend", "check-config", "--config", str(EXAMPLE_CONFIG)]) == 0
    assert capsys.readouterr().out == f"config OK: {EXAMPLE_CONFIG}\n"
    assert main(["backend", "example-config"]) == 0
    assert capsys.readouterr().out == EXAMPLE_CONFIG.read_text()


def test_check_config_reports_every_problem_with_its_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "backend.toml"
    path.write_text(
        '[ingest]\nhost = "0.0.0.0"\nport = "x"\n[api]\nprot = 1\n[storage]\nkind = "s4"\n'
        '[metadata]\nurl = "postgresql+psycopg://u:secret@db/l"\n'
    )
    assert main(["backend", "check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "longtail: configuration error: 5 problems:"
    # the list of known options grows with the backend: compare up to it
    shown = sorted(line.split(" (known: ")[0] for line in err[1:])
    assert shown == sorted(
        [
            f"  {path}: ingest.port: expected an integer, got 'x'",
            f"  {path}: api.prot: unknown option 'api.prot'",
            f"  {path}: metadata.url contains a password; pass it in LONGTAIL_METADATA__URL "
            "instead",
            f"  {path}: ingest.host = '0.0.0.0' exposes vehicle tokens in clear text: set "
            "ingest.tls_cert and ingest.tls_key, or ingest.allow_insecure_remote = true behind a "
            "TLS proxy",
            f"  {path}: storage.kind must be 'local' or 's3', got 's4'",
        ]
    )
