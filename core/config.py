"""The one config loader of every Longtail process: a TOML file, then ``LONGTAIL_*`` environment
overrides, built into frozen dataclasses and validated in one pass that reports *every* problem.

A process describes its configuration as nested frozen dataclasses (one per TOML section) whose
fields carry their limits through :func:`option`::

    @dataclass(frozen=True)
    class UploadConfig:
        endpoint: str = "127.0.0.1:50051"
        chunk_bytes: int = option(256 * 1024, low=1024)
        ca_file: str = option("", path=True)

and loads it with :func:`load_config` (``checks`` adds the cross-field rules of that process).

Rules, the same for the vehicle and the cloud:

* **Sections and options** are checked by name; an unknown one is refused with the known names.
* **Environment**: ``LONGTAIL_<SECTION>__<OPTION>=value`` overrides the file. A variable whose
  section is not one of this process's sections is ignored (the agent and the backend share the
  prefix on a development machine). The value is read by the option's type: a string option takes
  the text as is (``LONGTAIL_VEHICLE__ID=0042`` stays ``"0042"``), numbers parse as numbers,
  booleans accept ``true/false/1/0/yes/no/on/off``, tables and arrays parse as TOML.
* **Paths** (``option(..., path=True)``, a string or an array of strings), including defaults,
  are relative to the config file's folder (the working directory when there is no file), never to wherever the process started.
* **Optional options** typed ``X | None`` default to None, meaning "not set: the process
  decides" (TOML has no null, so a value in the file or environment is always an ``X``).
* **Every problem** is collected, each with its location (``agent.toml: upload.chunk_bytes``,
  ``environment LONGTAIL_UPLOAD__CHUNK_BYTES``), and raised together as one
  :class:`~core.errors.ConfigError` whose ``problems`` lists them.
"""

from __future__ import annotations

import math
import os
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from core.errors import ConfigError

ENV_PREFIX = "LONGTAIL_"

T = TypeVar("T")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def option(
    default: Any = None,
    *,
    default_factory: Callable[[], Any] | None = None,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] | None = None,
    path: bool = False,
) -> Any:
    """A dataclass field with limits: ``low``/``high`` bounds, allowed ``choices``, or ``path``
    (resolved against the config file's folder)."""
    meta = {"low": low, "high": high, "choices": choices, "path": path}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RawConfig:
    """A parsed TOML file (or nothing) and where relative paths start."""

    data: dict[str, Any]
    base: Path
    source: str  # how problems name the file: its path, or "defaults"


def read_toml(path: Path | None) -> RawConfig:
    """Parse ``path`` (None: defaults only); an unreadable or invalid file is a ConfigError."""
    if path is None:
        return RawConfig({}, Path.cwd(), "defaults")
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML: {exc}") from exc
    return RawConfig(data, Path(path).resolve().parent, str(path))


def load_config(
    schema: type[T],
    path: Path | None,
    environ: Mapping[str, str] | None = None,
    *,
    checks: Callable[[T], Iterable[str]] | None = None,
    raw: RawConfig | None = None,
) -> T:
    """Read ``path``, apply the environment, build ``schema`` and run ``checks`` on the result.

    ``checks`` yields one message per cross-field problem (``"option: what is wrong"``). All
    problems, from the file, the environment and the checks, are raised in one ConfigError.
    ``raw`` passes an already-read file (a caller that inspects it first).
    """
    config, problems = collect_config(schema, path, environ, checks=checks, raw=raw)
    if problems:
        raise config_error(problems)
    return config


def collect_config(
    schema: type[T],
    path: Path | None,
    environ: Mapping[str, str] | None = None,
    *,
    checks: Callable[[T], Iterable[str]] | None = None,
    raw: RawConfig | None = None,
) -> tuple[T, tuple[str, ...]]:
    """:func:`load_config` without raising for problems of the options: the configuration as
    built (each refused value replaced by its default) and every problem found, for a checker
    that goes on to validate more (``longtail-agent check-config``). ``checks`` run only when the
    options themselves are valid, as in ``load_config``. An unreadable file still raises."""
    raw = raw if raw is not None else read_toml(path)
    builder = _Builder(raw.base, raw.source)
    merged = builder.merge_environment(schema, raw.data, os.environ if environ is None else environ)
    config: T = builder.build(schema, merged, "")
    if not builder.problems and checks is not None:
        builder.problems.extend(checks(config))
    return config, tuple(builder.problems)


def config_error(problems: Sequence[str]) -> ConfigError:
    """One ConfigError listing ``problems`` (its message is the problem itself when alone)."""
    problems = tuple(problems)
    head = (
        problems[0]
        if len(problems) == 1
        else f"{len(problems)} problems in the configuration:\n  " + "\n  ".join(problems)
    )
    return ConfigError(head, problems)


class _Builder:
    """Builds one configuration, collecting problems instead of stopping at the first."""

    def __init__(self, base: Path, source: str) -> None:
        self.base = base
        self.source = source
        self.problems: list[str] = []
        #: option name -> the environment variable that set it (for the problem's location)
        self.from_env: dict[str, str] = {}

    def where(self, option: str) -> str:
        if option in self.from_env:
            return f"{option} (environment {self.from_env[option]})"
        return f"{self.source}: {option}" if self.source != "defaults" else option

    def merge_environment(
        self, schema: type[Any], data: dict[str, Any], environ: Mapping[str, str]
    ) -> dict[str, Any]:
        merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
        sections = {f.name: f for f in fields(schema)}
        hints = typing.get_type_hints(schema)
        for key in sorted(environ):
            if not key.startswith(ENV_PREFIX) or "__" not in key:
                continue
            parts = key[len(ENV_PREFIX) :].lower().split("__")
            if parts[0] not in sections:
                continue  # another process's section
            if len(parts) != 2 or not parts[1]:
                self.problems.append(f"environment {key}: expected LONGTAIL_<SECTION>__<OPTION>")
                continue
            section = merged.setdefault(parts[0], {})
            if not isinstance(section, dict):
                self.problems.append(
                    f"environment {key}: [{parts[0]}] is not a table in {self.source}"
                )
                continue
            section_cls = hints[parts[0]]
            option_hints = typing.get_type_hints(section_cls) if is_dataclass(section_cls) else {}
            section[parts[1]] = _env_value(value=environ[key], hint=option_hints.get(parts[1]))
            self.from_env[f"{parts[0]}.{parts[1]}"] = key
        return merged

    def build(self, cls: type[Any], raw: Any, prefix: str) -> Any:
        where = prefix.rstrip(".") or "config"
        if not isinstance(raw, dict):
            self.problems.append(f"{self.where(where)}: expected a table, got {raw!r}")
            raw = {}
        hints = typing.get_type_hints(cls)
        known = {f.name: f for f in fields(cls)}
        for key in raw:
            if key not in known:
                self.problems.append(
                    f"{self.where(prefix + key)}: unknown option '{prefix}{key}' "
                    f"(known: {', '.join(sorted(known))})"
                )
        values: dict[str, Any] = {}
        for name, f in known.items():
            option_name = f"{prefix}{name}"
            hint = hints[name]
            nested = isinstance(hint, type) and is_dataclass(hint)
            if name not in raw:
                if nested:  # a section left out: its defaults, with relative paths resolved
                    values[name] = self.build(hint, {}, option_name + ".")
                elif f.metadata.get("path") and isinstance(f.default, str) and f.default:
                    values[name] = str((self.base / f.default).resolve())
                continue
            value = raw[name]
            if nested:
                values[name] = self.build(hint, value, option_name + ".")
            elif typing.get_origin(hint) is tuple and is_dataclass(typing.get_args(hint)[0]):
                item_cls = typing.get_args(hint)[0]
                if not isinstance(value, list):
                    self.problems.append(
                        f"{self.where(option_name)}: expected an array of tables, got {value!r}"
                    )
                    continue
                values[name] = tuple(
                    self.build(item_cls, item, f"{option_name}[{i}].")
                    for i, item in enumerate(value)
                )
            else:
                try:
                    values[name] = _scalar(option_name, hint, value, f.metadata, self.base)
                except ConfigError as exc:
                    self.problems.append(f"{self.where(option_name)}: {exc}")
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:  # a dataclass __post_init__ refusing a value
            self.problems.append(f"{self.where(where)}: {exc}")
            return cls()


def _optional_of(hint: Any) -> Any:
    """``X`` for an optional option typed ``X | None`` (None: not set, the process decides);
    ``hint`` itself otherwise."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _env_value(value: str, hint: Any) -> Any:
    """An environment string read by the option's type (strings stay strings)."""
    hint = _optional_of(hint)
    if hint is str:
        return value
    if hint is bool:
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        return value  # refused by _scalar with the option's name
    if hint is int:
        try:
            return int(value.replace("_", ""), 0)
        except ValueError:
            return value
    if hint is float:
        try:
            return float(value.replace("_", ""))
        except ValueError:
            return value
    try:  # tables, arrays, or an unknown option (refused later by name)
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def _scalar(option: str, hint: Any, value: Any, meta: Mapping[str, Any], base: Path) -> Any:
    hint = _optional_of(hint)  # TOML has no null: a value given is one of the type's
    origin = typing.get_origin(hint) or hint
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"expected a table, got {value!r}")
        return dict(value)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"expected an array, got {value!r}")
        item = typing.get_args(hint)[0] if typing.get_args(hint) else str
        for element in value:
            if item is str and not isinstance(element, str):
                raise ConfigError(f"expected an array of strings, got {value!r}")
            if item is float and (
                isinstance(element, bool) or not isinstance(element, int | float)
            ):
                raise ConfigError(f"expected an array of numbers, got {value!r}")
        items = tuple(float(e) if item is float else e for e in value)
        return _resolve(base, items) if meta.get("path") and item is str else items
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"expected an integer, got {value!r}")
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"expected a finite number, got {value!r}")
    elif hint is str and not isinstance(value, str):
        raise ConfigError(f"expected a string, got {value!r}")
    low, high, choices = meta.get("low"), meta.get("high"), meta.get("choices")
    if low is not None and value < low:
        raise ConfigError(f"must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"must be <= {high}, got {value!r}")
    if choices is not None and value not in choices:
        raise ConfigError(f"must be one of {', '.join(choices)}; got {value!r}")
    if meta.get("path") and value:
        value = _resolve(base, value)
    return value


def _resolve(base: Path, value: Any) -> Any:
    """A path option's value (a string, or a tuple of them) resolved against ``base``."""
    if isinstance(value, tuple):
        return tuple(str((base / Path(v).expanduser()).resolve()) for v in value)
    return str((base / Path(value).expanduser()).resolve())
