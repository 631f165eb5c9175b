"""Agent configuration: a TOML file, then ``LONGTAIL_<SECTION>__<OPTION>`` environment overrides,
validated once at start-up. Every option has a safe default; a wrong one is refused with its name.

Example ``agent.toml`` (all optional; relative paths are relative to the file)::

    [vehicle]
    id = "veh-0001"
    token_file = "/etc/longtail/token"     # or token = "..." (prefer the file or the env)
    [source]
    kind = "replay"                        # or "factory": factory = "simulators.stream:make_source"
    path = "drives/2024-05-01"
    rate = "recorded"                      # "recorded" (timestamps), "fixed" (rate_hz) or "max"
    [selection]
    frames_per_hour = 120
    [[selection.rules]]
    name = "vru_unsure"
    when = "min_confidence.vru < 0.5"
    mode = "edge"
    min_interval_s = 5
    [spool]
    dir = "/var/lib/longtail/spool"
    max_bytes = 4294967296
    [upload]
    endpoint = "ingest.example.com:443"
    ca_file = "/etc/longtail/ca.pem"
    bandwidth_bytes_per_s = 2000000

Environment: ``LONGTAIL_UPLOAD__ENDPOINT=10.0.0.5:50051``, ``LONGTAIL_VEHICLE__TOKEN=...``; values
are read as TOML scalars when they parse (numbers, booleans) and as strings otherwise. Variables
whose section is not an agent section are ignored (the backend shares the ``LONGTAIL_`` prefix).
"""

from __future__ import annotations

import math
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from agent.errors import ConfigError

ENV_PREFIX = "LONGTAIL_"
GiB = 1024**3


def _opt(
    default: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] | None = None,
    path: bool = False,
) -> Any:
    return field(
        default=default, metadata={"low": low, "high": high, "choices": choices, "path": path}
    )


@dataclass(frozen=True)
class VehicleConfig:
    """Who this vehicle is and how it authenticates (bearer token)."""

    id: str = "vehicle-unnamed"
    token: str = ""
    token_file: str = _opt("", path=True)


@dataclass(frozen=True)
class SourceConfig:
    """Where frames come from: a recorded drive (``replay``) or a plug-in ``factory``
    (``"module:function"``, imported at run time, called with ``options`` as keyword arguments)."""

    kind: str = _opt("replay", choices=("replay", "factory"))
    path: str = _opt("", path=True)
    rate: str = _opt("recorded", choices=("recorded", "fixed", "max"))
    rate_hz: float = _opt(10.0, low=0.001, high=1000.0)
    factory: str = ""
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PerceptionConfig:
    """The analysis stage (perception + scoring). ``factory`` builds it; the default wires the
    real model package and scoring kernels. ``package`` and ``scoring_stats`` default to the
    packaged model when empty."""

    factory: str = "agent.daemon.model:make_model_analyzer"
    package: str = _opt("", path=True)
    scoring_stats: str = _opt("", path=True)
    device: str = _opt("auto", choices=("auto", "cpu", "cuda"))
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleConfig:
    """One trigger rule; see ``agent.selection.rules.RuleSpec``."""

    name: str = ""
    when: str = ""
    mode: str = _opt("level", choices=("level", "edge"))
    min_interval_s: float = _opt(0.0, low=0.0)
    priority: float = _opt(1.0, low=-1000.0, high=1000.0)


@dataclass(frozen=True)
class SelectionConfig:
    """Triggers, budgets, dedup, context window, sampling and encoding of kept frames."""

    rules: tuple[RuleConfig, ...] = ()
    frames_per_hour: float = _opt(120.0, low=1e-3)
    bytes_per_day: float = _opt(2.0 * GiB, low=1.0)
    reserve_fraction: float = _opt(0.2, low=0.0, high=1.0)
    reserve_below_priority: float = 1.5
    dedup_similarity: float = _opt(0.97, low=-1.0, high=2.0)  # > 1 disables
    dedup_window_s: float = _opt(30.0, low=0.0)
    pre_frames: int = _opt(2, low=0, high=100)
    post_frames: int = _opt(2, low=0, high=100)
    context_stride: int = _opt(2, low=1, high=100)
    sample_rate: float = _opt(0.001, low=0.0, high=1.0)
    sample_priority: float = 0.5
    seed: int = _opt(0, low=0)  # 0: seeded from the OS
    manual_trigger_file: str = _opt("", path=True)
    quantization_step_m: float = _opt(0.0, low=0.0, high=10.0)  # 0: lossless


@dataclass(frozen=True)
class SpoolConfig:
    """The durable on-disk queue."""

    dir: str = _opt("longtail-spool", path=True)
    max_bytes: int = _opt(4 * GiB, low=1024)
    handoff_capacity: int = _opt(64, low=1, high=100_000)
    durable: bool = True


@dataclass(frozen=True)
class UploadConfig:
    """The gRPC client. ``bandwidth_bytes_per_s = 0`` means no cap."""

    enabled: bool = True
    endpoint: str = "127.0.0.1:50051"
    ca_file: str = _opt("", path=True)
    chunk_bytes: int = _opt(256 * 1024, low=1024, high=4 * 1024 * 1024)
    bandwidth_bytes_per_s: float = _opt(0.0, low=0.0)
    timeout_s: float = _opt(60.0, low=0.1, high=3600.0)
    backoff_base_s: float = _opt(0.5, low=0.001, high=3600.0)
    backoff_cap_s: float = _opt(60.0, low=0.001, high=86400.0)


@dataclass(frozen=True)
class MetricsConfig:
    """Prometheus endpoint; ``port = 0`` turns it off."""

    host: str = "127.0.0.1"
    port: int = _opt(9108, low=0, high=65535)


@dataclass(frozen=True)
class DaemonConfig:
    """Process behaviour. ``exit_when_done``: stop once the source ends and the spool is empty."""

    exit_when_done: bool = False
    log_format: str = _opt("json", choices=("json", "kv"))
    log_level: str = _opt("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


@dataclass(frozen=True)
class AgentConfig:
    vehicle: VehicleConfig = field(default_factory=VehicleConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    spool: SpoolConfig = field(default_factory=SpoolConfig)
    upload: UploadConfig = field(default_factory=UploadConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)

    def token(self) -> str:
        """The bearer token: ``vehicle.token`` or the stripped contents of ``vehicle.token_file``."""
        if self.vehicle.token:
            return self.vehicle.token
        if not self.vehicle.token_file:
            return ""
        try:
            return Path(self.vehicle.token_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"vehicle.token_file {self.vehicle.token_file}: cannot read: {exc.strerror}"
            ) from exc


def load_config(
    path: Path | None,
    environ: Mapping[str, str] | None = None,
    *,
    require_token: bool = True,
    require_source: bool = True,
) -> AgentConfig:
    """Read ``path`` (None: defaults only), apply env overrides, validate; raise ConfigError.

    ``require_token`` / ``require_source``: off for offline scoring, which uploads nothing and
    reads the drive named on the command line."""
    raw: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"config file {path}: cannot read: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: not valid TOML: {exc}") from exc
        base = path.resolve().parent
    _apply_env(raw, os.environ if environ is None else environ)
    config: AgentConfig = _build(AgentConfig, raw, "", base)
    _check_cross_field(config, require_token, require_source)
    return config


def _apply_env(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    sections = {f.name for f in fields(AgentConfig)}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or "__" not in key:
            continue
        parts = key[len(ENV_PREFIX) :].lower().split("__")
        if parts[0] not in sections:
            continue
        if len(parts) != 2 or not parts[1]:
            raise ConfigError(f"environment {key}: expected LONGTAIL_<SECTION>__<OPTION>")
        section = raw.setdefault(parts[0], {})
        if not isinstance(section, dict):
            raise ConfigError(f"environment {key}: [{parts[0]}] is not a table in the config file")
        section[parts[1]] = _parse_env_value(value)


def _parse_env_value(value: str) -> Any:
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def _build(cls: type[Any], raw: Any, prefix: str, base: Path) -> Any:
    where = prefix.rstrip(".") or "config"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"unknown option '{prefix}{key}' (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for name, f in known.items():
        option = f"{prefix}{name}"
        hint = hints[name]
        nested = isinstance(hint, type) and is_dataclass(hint)
        if name not in raw:
            if nested:  # a section left out: its defaults, with relative paths resolved
                values[name] = _build(hint, {}, option + ".", base)
            elif f.metadata.get("path") and isinstance(f.default, str) and f.default:
                # a relative default lives next to the config file, not wherever we were started
                values[name] = str((base / f.default).resolve())
            continue
        value = raw[name]
        if nested:
            values[name] = _build(hint, value, option + ".", base)
        elif typing.get_origin(hint) is tuple:
            item_cls = typing.get_args(hint)[0]
            if not isinstance(value, list):
                raise ConfigError(f"{option}: expected an array of tables, got {value!r}")
            values[name] = tuple(
                _build(item_cls, item, f"{option}[{i}].", base) for i, item in enumerate(value)
            )
        else:
            values[name] = _scalar(option, hint, value, f.metadata, base)
    return cls(**values)


def _scalar(option: str, hint: Any, value: Any, meta: Mapping[str, Any], base: Path) -> Any:
    origin = typing.get_origin(hint) or hint
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{option}: expected a table, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{option}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{option}: expected an integer, got {value!r}")
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{option}: expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{option}: expected a finite number, got {value!r}")
    elif hint is str and not isinstance(value, str):
        raise ConfigError(f"{option}: expected a string, got {value!r}")
    low, high, choices = meta.get("low"), meta.get("high"), meta.get("choices")
    if low is not None and value < low:
        raise ConfigError(f"{option}: must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{option}: must be <= {high}, got {value!r}")
    if choices is not None and value not in choices:
        raise ConfigError(f"{option}: must be one of {', '.join(choices)}; got {value!r}")
    if meta.get("path") and value:
        value = str((base / Path(value).expanduser()).resolve())
    return value


def _check_cross_field(config: AgentConfig, require_token: bool, require_source: bool) -> None:
    if require_source and config.source.kind == "replay" and not config.source.path:
        raise ConfigError("source.path: required when source.kind = 'replay'")
    if require_source and config.source.kind == "factory" and ":" not in config.source.factory:
        raise ConfigError(
            f"source.factory: expected 'module:function' when source.kind = 'factory', "
            f"got {config.source.factory!r}"
        )
    if ":" not in config.perception.factory:
        raise ConfigError(
            f"perception.factory: expected 'module:function', got {config.perception.factory!r}"
        )
    if config.upload.backoff_cap_s < config.upload.backoff_base_s:
        raise ConfigError(
            f"upload.backoff_cap_s ({config.upload.backoff_cap_s}) must be >= "
            f"upload.backoff_base_s ({config.upload.backoff_base_s})"
        )
    if config.upload.enabled and require_token and not config.token():
        raise ConfigError(
            "vehicle.token: empty; set vehicle.token_file, vehicle.token or LONGTAIL_VEHICLE__TOKEN"
        )
    for rule in config.selection.rules:
        if not rule.name or not rule.when:
            raise ConfigError(f"selection.rules: every rule needs a name and a when, got {rule!r}")
