"""``core.config``: optional options and the non-raising collection used by the checkers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.config import collect_config, config_error, load_config, option
from core.errors import ConfigError


@dataclass(frozen=True)
class Section:
    flag: bool | None = None
    count: int = option(3, low=1)
    folder: str = option("data", path=True)
    folders: tuple[str, ...] = option((), path=True)


@dataclass(frozen=True)
class Schema:
    section: Section = field(default_factory=Section)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "x.toml"
    path.write_text(text)
    return path


def test_an_optional_option_is_none_until_set_in_the_file_or_environment(tmp_path: Path) -> None:
    assert load_config(Schema, write(tmp_path, ""), {}).section.flag is None
    assert (
        load_config(Schema, write(tmp_path, "[section]\nflag = false\n"), {}).section.flag is False
    )
    env = {"LONGTAIL_SECTION__FLAG": "yes"}
    assert load_config(Schema, write(tmp_path, ""), env).section.flag is True
    with pytest.raises(ConfigError, match=r"LONGTAIL_SECTION__FLAG\): expected true or false"):
        load_config(Schema, write(tmp_path, ""), {"LONGTAIL_SECTION__FLAG": "maybe"})


def test_collect_returns_the_config_with_defaults_for_refused_values_and_every_problem(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, '[section]\ncount = 0\nflag = "x"\nfolder = "d"\n')
    seen: list[Schema] = []

    def checks(config: Schema) -> list[str]:
        seen.append(config)
        return ["cross-field"]

    config, problems = collect_config(Schema, path, {}, checks=checks)
    assert config.section.count == 3 and config.section.flag is None  # refused: the defaults
    assert config.section.folder == str(tmp_path / "d")  # accepted values are kept
    assert sorted(problems) == [
        f"{path}: section.count: must be >= 1, got 0",
        f"{path}: section.flag: expected true or false, got 'x'",
    ]
    assert seen == []  # cross-field checks need valid options, as in load_config


def test_config_error_lists_every_problem() -> None:
    assert str(config_error(["a: one"])) == "a: one"
    error = config_error(["a: one", "b: two"])
    assert str(error) == "2 problems in the configuration:\n  a: one\n  b: two"
    assert error.problems == ("a: one", "b: two")


def test_an_array_of_paths_is_relative_to_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[section]\nfolders = ["a", "/abs/b"]\n')
    assert load_config(Schema, path, {}).section.folders == (str(tmp_path / "a"), "/abs/b")
    assert load_config(Schema, write(tmp_path, ""), {}).section.folders == ()
    with pytest.raises(ConfigError, match="expected an array of strings"):
        load_config(Schema, write(tmp_path, "[section]\nfolders = [1]\n"), {})
