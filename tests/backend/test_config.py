"""Configuration: TOML, LONGTAIL_* overrides, relative paths, and refusal of unsafe settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.config import BackendConfig, load_config
from core.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "backend.toml"
    path.write_text(text)
    return path


def test_defaults_are_safe_and_valid() -> None:
    config = load_config(None, env={})
    assert config.ingest.host == "127.0.0.1" and config.api.host == "127.0.0.1"
    assert config.storage.kind == "local" and config.metadata.url.startswith("sqlite:///")


def test_toml_values_env_overrides_and_relative_paths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[ingest]\nport = 6000\nmax_frame_bytes = 8_000_000\n"
        '[storage]\npath = "b"\n[metadata]\nurl = "sqlite:///m.db"\n',
    )
    config = load_config(
        path, env={"LONGTAIL_INGEST__PORT": "6001", "LONGTAIL_API__ENABLED": "false"}
    )
    assert config.ingest.port == 6001
    assert config.ingest.max_frame_bytes == 8_000_000
    assert config.api.enabled is False
    assert config.storage.path == str(tmp_path / "b")
    assert config.metadata.url == f"sqlite:///{tmp_path / 'm.db'}"


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ('[ingest]\nhost = "0.0.0.0"\n', {}, "ingest.host = '0.0.0.0' exposes vehicle tokens"),
        ('[api]\nhost = "0.0.0.0"\n', {}, "api.host = '0.0.0.0'"),
        ('[ingest]\ntls_cert = "c.pem"\n', {}, "tls_cert and ingest.tls_key must be set together"),
        ('[ingest]\ntls_cert = "c.pem"\ntls_key = "k.pem"\n', {}, "not a readable file"),
        ("[ingest]\nport = 70000\n", {}, "ingest.port must be in 0..65535, got 70000"),
        ("[ingest]\nmax_chunk_bytes = 0\n", {}, "ingest.max_chunk_bytes must be positive"),
        (
            "[ingest]\nmax_chunk_bytes = 100\nmax_frame_bytes = 10\n",
            {},
            "exceeds ingest.max_frame_bytes",
        ),
        ('[ingest]\nport = "x"\n', {}, "ingest.port: expected an integer, got 'x'"),
        (
            "",
            {"LONGTAIL_INGEST__PORT": "abc"},
            "ingest.port (environment LONGTAIL_INGEST__PORT): expected an integer, got 'abc'",
        ),
        ("[ingest]\nprot = 1\n", {}, "unknown option 'ingest.prot'"),
        ("[ingets]\n", {}, "unknown option 'ingets'"),
        ('[storage]\nkind = "ftp"\n', {}, "storage.kind must be 'local' or 's3', got 'ftp'"),
        ('[storage]\nkind = "s3"\n', {}, "storage.bucket is required"),
        ('[metadata]\nurl = "postgresql://u:secret@db/x"\n', {}, "contains a password"),
        ("[ingest\n", {}, "not valid TOML"),
    ],
)
def test_invalid_or_unsafe_settings_are_refused_by_name(
    tmp_path: Path, toml: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, toml), env=env)
    assert message in str(info.value)


def test_remote_binding_is_allowed_when_explicitly_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, '[ingest]\nhost = "0.0.0.0"\nallow_insecure_remote = true\n')
    assert load_config(path, env={}).ingest.host == "0.0.0.0"


def test_a_password_may_come_from_the_environment(tmp_path: Path) -> None:
    url = "postgresql+psycopg://u:secret@db/x"
    assert load_config(None, env={"LONGTAIL_METADATA__URL": url}).metadata.url == url


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})


def test_config_is_a_frozen_dataclass() -> None:
    config = BackendConfig()
    with pytest.raises(AttributeError):
        config.ingest = config.ingest  # type: ignore[misc]
