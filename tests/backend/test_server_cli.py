"""``longtail backend vehicles …`` and ``sweep`` through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.auth.tokens import hash_token
from backend.cli import main
from backend.metadata.db import make_engine
from backend.metadata.unit_of_work import Database


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
