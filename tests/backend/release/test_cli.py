"""``longtail release …`` end to end on a config file: keygen, seed, register, a campaign."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from backend.cli import main
from backend.config import load_config
from backend.ingest.auth import register_vehicle
from backend.metadata.unit_of_work import Database
from backend.wiring import open_database
from tests.backend.release.conftest import make_package, record_gate


def test_the_release_commands_drive_the_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "backend.toml"
    config.write_text(
        '[storage]\npath = "blobs"\nstaging_path = "staging"\n'
        '[metadata]\nurl = "sqlite:///meta.db"\n'
        '[release]\nsigning_key_path = "keys/signing.key"\ngenerate_key = false\n'
    )
    cfg = ["--config", str(config)]
    assert main(["release", "list", *cfg]) == 2  # no key yet, and creating one is off
    assert "does not exist" in capsys.readouterr().err
    assert main(["release", "keygen", *cfg]) == 0
    key = tmp_path / "keys" / "signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    public = capsys.readouterr().out.split("public key ")[1].strip()
    assert main(["release", "pubkey", *cfg]) == 0
    assert capsys.readouterr().out.strip() == public
    assert main(["release", "keygen", *cfg]) == 2
    assert "already exists" in capsys.readouterr().err

    assert main(["release", "seed-baseline", *cfg]) == 0
    package = make_package(tmp_path, "m-2")
    assert main(["release", "register", str(package), "--run-id", "r1", *cfg]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("m-2\t")
    db = open_database(load_config(config).metadata)
    try:
        register_vehicle(db, "car-1")
        assert main(["release", "campaign", "start", "m-2", "--min-reports", "1", *cfg]) != 0
        assert "no release-gate verdict" in capsys.readouterr().err
        champion = db_champion(db)
        record_gate(db, "m-2", champion)
    finally:
        db.close()
    assert main(["release", "campaign", "start", "m-2", "--min-reports", "1", *cfg]) == 0
    assert "canary car-1" in capsys.readouterr().out
    assert main(["release", "campaign", "status", *cfg]) == 0
    assert "pending: 0 of 1 canary reports" in capsys.readouterr().out
    assert main(["release", "campaign", "promote", "1", "--note", "ok", *cfg]) == 0
    assert main(["release", "list", *cfg]) == 0
    listing = capsys.readouterr().out
    assert "m-2" in listing and "champion" in listing and "previous" in listing
    key.chmod(0o644)
    assert main(["release", "list", *cfg]) == 2
    assert "chmod 600" in capsys.readouterr().err


def db_champion(db: Database) -> str:
    with db.transaction("read the champion") as uow:
        champion = uow.models.alias("champion")
    assert champion is not None
    return champion.version
