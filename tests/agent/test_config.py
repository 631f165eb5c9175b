from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import AgentConfig, load_config
from core.errors import ConfigError

MINIMAL = '[vehicle]\ntoken = "t"\n[source]\npath = "drive"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_defaults_are_safe_and_paths_resolve_against_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert config.upload.endpoint == "127.0.0.1:50051"
    assert config.metrics.host == "127.0.0.1"
    assert config.spool.durable is True
    assert config.selection.rules == ()
    assert config.source.path == str(tmp_path / "drive")
    assert config.spool.dir == str(tmp_path / "longtail-spool")
    assert config.token() == "t"


def test_full_file_with_rules(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + """
[selection]
frames_per_hour = 30
[[selection.rules]]
name = "vru_unsure"
when = "min_confidence.vru < 0.5"
mode = "edge"
min_interval_s = 5
[[selection.rules]]
name = "novel"
when = "frame.score > 0.99"
[upload]
bandwidth_bytes_per_s = 2_000_000
"""
    )
    config = load_config(write(tmp_path, text), environ={})
    assert [r.name for r in config.selection.rules] == ["vru_unsure", "novel"]
    assert config.selection.rules[0].mode == "edge"
    assert config.selection.rules[0].min_interval_s == 5.0
    assert config.selection.frames_per_hour == 30.0
    assert config.upload.bandwidth_bytes_per_s == 2e6


def test_environment_overrides(tmp_path: Path) -> None:
    env = {
        "LONGTAIL_UPLOAD__ENDPOINT": "10.0.0.5:443",
        "LONGTAIL_UPLOAD__CHUNK_BYTES": "65536",
        "LONGTAIL_SPOOL__DURABLE": "false",
        "LONGTAIL_VEHICLE__TOKEN": "from-env",
        "LONGTAIL_INGEST__PORT": "1",  # a backend variable: not ours, ignored
        "LONGTAIL_METADATA__URL": "x",  # not an agent section: ignored
    }
    config = load_config(write(tmp_path, MINIMAL), environ=env)
    assert config.upload.endpoint == "10.0.0.5:443"
    assert config.upload.chunk_bytes == 65536
    assert config.spool.durable is False
    assert config.token() == "from-env"


def test_token_from_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret\n")
    text = '[vehicle]\ntoken_file = "token"\n[source]\npath = "d"\n'
    assert load_config(write(tmp_path, text), environ={}).token() == "s3cret"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[upload]\nendpint = 'x'\n", {}, "unknown option 'upload.endpint'"),
        ("[uplod]\n", {}, "unknown option 'uplod'"),
        (
            "[upload]\nchunk_bytes = 'big'\n",
            {},
            "upload.chunk_bytes: expected an integer, got 'big'",
        ),
        ("[upload]\nchunk_bytes = 10\n", {}, "upload.chunk_bytes: must be >= 1024, got 10"),
        ("[selection]\nsample_rate = 2\n", {}, "selection.sample_rate: must be <= 1.0, got 2.0"),
        ("[spool]\ndurable = 1\n", {}, "spool.durable: expected true or false, got 1"),
        (
            "[source]\nrate = 'fast'\n",
            {},
            "source.rate: must be one of recorded, fixed, max; got 'fast'",
        ),
        ("[upload]\nbackoff_base_s = nan\n", {}, "upload.backoff_base_s: expected a finite number"),
        (
            "",
            {"LONGTAIL_METRICS__PORT": "70000"},
            "metrics.port (environment LONGTAIL_METRICS__PORT): must be <= 65535, got 70000",
        ),
        ("", {"LONGTAIL_UPLOAD__X__Y": "1"}, "environment LONGTAIL_UPLOAD__X__Y"),
        ("[[selection.rules]]\nname = 'a'\n", {}, "every rule needs a name and a when"),
        ("[[selection.rules]]\nname='a'\nwhen='x'\nmode='pulse'\n", {}, "selection.rules[0].mode"),
        (
            "[upload]\nbackoff_base_s = 10.0\nbackoff_cap_s = 1.0\n",
            {},
            "upload.backoff_cap_s (1.0)",
        ),
        (
            "[source]\nkind = 'factory'\nfactory = 'nocolon'\n",
            {},
            "source.factory: expected 'module:function'",
        ),
    ],
)
def test_bad_options_are_refused_by_name(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    base = '[vehicle]\ntoken = "t"\n' + ("" if "[source]" in text else '[source]\npath = "d"\n')
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, base + text), environ=env)
    assert message in str(info.value)


def test_missing_token_and_missing_source_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"vehicle\.token: empty"):
        load_config(write(tmp_path, '[source]\npath = "d"\n'), environ={})
    with pytest.raises(ConfigError, match=r"source\.path: required"):
        load_config(write(tmp_path, '[vehicle]\ntoken = "t"\n'), environ={})
    # offline scoring needs neither
    config = load_config(None, environ={}, require_token=False, require_source=False)
    assert config.upload == AgentConfig().upload
    assert config.spool.dir == str(Path.cwd() / "longtail-spool")


def test_unreadable_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", environ={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[upload\n"), environ={})


def test_every_problem_is_reported_at_once_with_its_location(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[vehicle]\ntoken = "t"\n[source]\npath = "d"\nrate = "fast"\n'
        "[upload]\nchunk_bytes = 10\nendpint = 'x'\n[spool]\ndurable = 1\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={"LONGTAIL_METRICS__PORT": "-1"})
    problems = info.value.problems
    assert len(problems) == 5, problems
    assert str(info.value).startswith("5 problems in the configuration:")
    assert f"{path}: source.rate: must be one of recorded, fixed, max; got 'fast'" in problems
    assert f"{path}: upload.chunk_bytes: must be >= 1024, got 10" in problems
    assert any(p.startswith(f"{path}: upload.endpint: unknown option") for p in problems)
    assert f"{path}: spool.durable: expected true or false, got 1" in problems
    assert "metrics.port (environment LONGTAIL_METRICS__PORT): must be >= 0, got -1" in problems


def test_environment_values_are_read_by_the_option_type(tmp_path: Path) -> None:
    env = {"LONGTAIL_VEHICLE__ID": "0042", "LONGTAIL_SPOOL__DURABLE": "off"}
    config = load_config(write(tmp_path, MINIMAL), environ=env)
    assert config.vehicle.id == "0042"  # a string option keeps the text, leading zeros too
    assert config.spool.durable is False


@pytest.mark.parametrize(
    ("text", "env", "exits"),
    [
        (MINIMAL, {}, True),  # a recorded drive ends the daemon
        (MINIMAL, {"LONGTAIL_DAEMON__EXIT_WHEN_DONE": "false"}, False),
        ('[vehicle]\ntoken = "t"\n[source]\nkind = "factory"\nfactory = "m:f"\n', {}, False),
        (
            '[vehicle]\ntoken = "t"\n[source]\nkind = "factory"\nfactory = "m:f"\n'
            "[daemon]\nexit_when_done = true\n",
            {},
            True,
        ),
    ],
    ids=["replay", "replay-env-false", "factory", "factory-file-true"],
)
def test_exit_when_done_defaults_by_source_kind(
    tmp_path: Path, text: str, env: dict[str, str], exits: bool
) -> None:
    assert load_config(write(tmp_path, text), environ=env).exits_when_source_ends() is exits


def test_exit_when_done_refuses_a_non_boolean(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"daemon\.exit_when_done: expected true or false"):
        load_config(write(tmp_path, MINIMAL + '[daemon]\nexit_when_done = "y"\n'), environ={})


KEY_HEX = "ab" * 32


def test_updates_are_off_until_a_public_key_is_configured(tmp_path: Path) -> None:
    off = load_config(write(tmp_path, MINIMAL), environ={})
    assert not off.updates_active()
    assert off.updates.models_dir == str(tmp_path / "models")
    on = load_config(write(tmp_path, MINIMAL), environ={"LONGTAIL_UPDATES__PUBLIC_KEY": KEY_HEX})
    assert on.updates_active() and on.update_public_key() == bytes.fromhex(KEY_HEX)
    kept_off = load_config(
        write(tmp_path, MINIMAL + f'[updates]\npublic_key = "{KEY_HEX}"\nenabled = false\n'),
        environ={},
    )
    assert not kept_off.updates_active()


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[updates]\nenabled = true\n", {}, "updates.public_key: expected 64 hex digits"),
        ('[updates]\npublic_key = "abcd"\n', {}, "got 4 characters"),
        ("", {"LONGTAIL_UPDATES__PUBLIC_KEY": "zz" * 32}, "updates.public_key: expected 64 hex"),
        ("[updates]\npoll_interval_s = 0.1\n", {}, "updates.poll_interval_s: must be >= 1.0"),
    ],
)
def test_bad_update_options_are_refused_by_name(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, MINIMAL + text), environ=env)
    assert message in str(info.value)


def test_updates_need_the_token_even_without_upload(tmp_path: Path) -> None:
    text = f'[source]\npath = "d"\n[upload]\nenabled = false\n[updates]\npublic_key = "{KEY_HEX}"\n'
    with pytest.raises(ConfigError, match=r"vehicle\.token: empty"):
        load_config(write(tmp_path, text), environ={})
