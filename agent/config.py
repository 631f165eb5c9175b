"""Agent configuration: a TOML file, then ``LONGTAIL_<SECTION>__<OPTION>`` environment overrides,
validated once at start-up. Every option has a safe default; a wrong one is refused with its name.

Example ``agent.toml`` (all optional; relative paths are relative to the file)::

    [vehicle]
    id = "veh-0001"
    token_file = "token"                   # or LONGTAIL_VEHICLE__TOKEN (prefer either to token)
    [source]
    kind = "replay"                        # or "factory": factory = "simulators.stream:make_source"
    path = "drives/2024-05-01"             # a recorded drive: the daemon exits when it ends
    rate = "recorded"                      # "recorded" (timestamps), "fixed" (rate_hz) or "max"
    [selection]
    frames_per_hour = 120
    [[selection.rules]]
    name = "vru_unsure"
    when = "min_confidence.vru < 0.5"
    mode = "edge"
    min_interval_s = 5
    [spool]
    dir = "spool"
    max_bytes = 4294967296
    [upload]
    endpoint = "ingest.example.com:443"
    ca_file = "ca.pem"
    bandwidth_bytes_per_s = 2000000
    [updates]                              # signed model updates from the same endpoint
    public_key = "<64 hex digits>"         # the release key's raw Ed25519 public key
    poll_interval_s = 300

The shipped, checked examples are ``agent/daemon/agent.example.toml`` (a vehicle install,
annotated) and ``agent/daemon/agent.dev.toml`` (a development checkout); ``longtail-agent
example-config`` prints them.

Environment: ``LONGTAIL_UPLOAD__ENDPOINT=10.0.0.5:50051``, ``LONGTAIL_VEHICLE__TOKEN=...``. The
rules (value types, relative paths, every problem reported at once) are ``core.config``'s, the same
for every Longtail process.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import config as core_config
from core.config import option
from core.errors import ConfigError

GiB = 1024**3


@dataclass(frozen=True)
class VehicleConfig:
    """Who this vehicle is and how it authenticates (bearer token)."""

    id: str = "vehicle-unnamed"
    token: str = ""
    token_file: str = option("", path=True)


@dataclass(frozen=True)
class SourceConfig:
    """Where frames come from: a recorded drive (``replay``) or a plug-in ``factory``
    (``"module:function"``, imported at run time, called with ``options`` as keyword arguments)."""

    kind: str = option("replay", choices=("replay", "factory"))
    path: str = option("", path=True)
    rate: str = option("recorded", choices=("recorded", "fixed", "max"))
    rate_hz: float = option(10.0, low=0.001, high=1000.0)
    factory: str = ""
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PerceptionConfig:
    """The analysis stage (perception + scoring). ``factory`` builds it; the default wires the
    real model package and scoring kernels. ``package`` and ``scoring_stats`` default to the
    packaged model when empty."""

    factory: str = "agent.daemon.model:make_model_analyzer"
    package: str = option("", path=True)
    scoring_stats: str = option("", path=True)
    device: str = option("auto", choices=("auto", "cpu", "cuda"))
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleConfig:
    """One trigger rule; see ``agent.selection.rules.RuleSpec``."""

    name: str = ""
    when: str = ""
    mode: str = option("level", choices=("level", "edge"))
    min_interval_s: float = option(0.0, low=0.0)
    priority: float = option(1.0, low=-1000.0, high=1000.0)


@dataclass(frozen=True)
class SelectionConfig:
    """Triggers, budgets, dedup, context window, sampling and encoding of kept frames."""

    rules: tuple[RuleConfig, ...] = ()
    frames_per_hour: float = option(120.0, low=1e-3)
    bytes_per_day: float = option(2.0 * GiB, low=1.0)
    reserve_fraction: float = option(0.2, low=0.0, high=1.0)
    reserve_below_priority: float = 1.5
    dedup_similarity: float = option(0.97, low=-1.0, high=2.0)  # > 1 disables
    dedup_window_s: float = option(30.0, low=0.0)
    #: one triggered upload per place: metres (world frame) around a recent trigger; 0 (the
    #: default) disables it: it needs a source whose frames carry the vehicle's pose
    dedup_place_radius_m: float = option(0.0, low=0.0)
    #: map of the drivable area (JSON polygons, world frame): enables ``unexplained_drivable``
    drivable_area_file: str = option("", path=True)
    pre_frames: int = option(2, low=0, high=100)
    post_frames: int = option(2, low=0, high=100)
    context_stride: int = option(2, low=1, high=100)
    sample_rate: float = option(0.001, low=0.0, high=1.0)
    sample_priority: float = 0.5
    seed: int = option(0, low=0)  # 0: seeded from the OS
    manual_trigger_file: str = option("", path=True)
    quantization_step_m: float = option(0.0, low=0.0, high=10.0)  # 0: lossless


@dataclass(frozen=True)
class SpoolConfig:
    """The durable on-disk queue."""

    dir: str = option("longtail-spool", path=True)
    max_bytes: int = option(4 * GiB, low=1024)
    handoff_capacity: int = option(64, low=1, high=100_000)
    durable: bool = True


@dataclass(frozen=True)
class UploadConfig:
    """The gRPC client. ``bandwidth_bytes_per_s = 0`` means no cap."""

    enabled: bool = True
    endpoint: str = "127.0.0.1:50051"
    ca_file: str = option("", path=True)
    chunk_bytes: int = option(256 * 1024, low=1024, high=4 * 1024 * 1024)
    bandwidth_bytes_per_s: float = option(0.0, low=0.0)
    timeout_s: float = option(60.0, low=0.1, high=3600.0)
    backoff_base_s: float = option(0.5, low=0.001, high=3600.0)
    backoff_cap_s: float = option(60.0, low=0.001, high=86400.0)


@dataclass(frozen=True)
class UpdatesConfig:
    """Signed model updates, polled from the upload endpoint with the vehicle's token.

    ``public_key``: the raw Ed25519 public key packages must be signed with, 64 hex digits.
    ``enabled``: not set (the default) means on exactly when a public key is configured; ``true``
    without a key is refused. ``models_dir`` holds downloads, installed packages and the
    ``current`` pointer (``agent.updates.install``); ``poll_interval_s`` is the seconds between
    two polls (health reports go with each)."""

    enabled: bool | None = None
    public_key: str = ""
    poll_interval_s: float = option(300.0, low=1.0, high=86400.0)
    models_dir: str = option("models", path=True)


@dataclass(frozen=True)
class MetricsConfig:
    """Prometheus endpoint; ``port = 0`` turns it off."""

    host: str = "127.0.0.1"
    port: int = option(9108, low=0, high=65535)


@dataclass(frozen=True)
class DaemonConfig:
    """Process behaviour.

    ``exit_when_done``: what the daemon does when its source has no more frames. ``true``: finish
    uploading the spool, then exit 0. ``false``: keep running (uploading, serving metrics) until
    SIGTERM. Not set (the default): ``true`` for a recorded drive (``source.kind = "replay"``, a
    dataset or a directory of point files), ``false`` for a live ``factory`` source.
    """

    exit_when_done: bool | None = None
    log_format: str = option("json", choices=("json", "kv"))
    log_level: str = option("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


@dataclass(frozen=True)
class AgentConfig:
    vehicle: VehicleConfig = field(default_factory=VehicleConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    spool: SpoolConfig = field(default_factory=SpoolConfig)
    upload: UploadConfig = field(default_factory=UploadConfig)
    updates: UpdatesConfig = field(default_factory=UpdatesConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)

    def exits_when_source_ends(self) -> bool:
        """``daemon.exit_when_done``, or by default whether the source is a recorded drive."""
        if self.daemon.exit_when_done is not None:
            return self.daemon.exit_when_done
        return self.source.kind == "replay"

    def updates_active(self) -> bool:
        """``updates.enabled``, or by default whether a public key is configured."""
        if self.updates.enabled is not None:
            return self.updates.enabled
        return bool(self.updates.public_key)

    def update_public_key(self) -> bytes:
        """The raw 32-byte key of ``updates.public_key`` (ConfigError when it is not 64 hex)."""
        text = self.updates.public_key.strip()
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ConfigError(
                f"updates.public_key: expected 64 hex digits (a raw Ed25519 public key), "
                f"got {len(text)} characters"
            )
        return key

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
    """Read ``path`` (None: defaults only), apply env overrides, validate; raise ConfigError
    listing every problem found.

    ``require_token`` / ``require_source``: off for offline scoring, which uploads nothing and
    reads the drive named on the command line."""
    return core_config.load_config(
        AgentConfig,
        path,
        environ,
        checks=lambda config: _cross_field_problems(config, require_token, require_source),
    )


def collect_config(
    path: Path, environ: Mapping[str, str] | None = None
) -> tuple[AgentConfig, tuple[str, ...]]:
    """The configuration as built and every problem of its options (``core.config.collect_config``),
    for ``check-config``, which goes on to check the model, the source and the rules.

    Unlike ``load_config`` the cross-field rules run even when some options were refused (those
    fell back to their defaults), except the rules about an option already reported."""
    config, problems = core_config.collect_config(AgentConfig, path, environ)
    reported = " ".join(problems)
    cross = [
        problem
        for problem in _cross_field_problems(config, True, True)
        if f"{problem.split(':', 1)[0].split(' ', 1)[0]}:" not in reported
    ]
    return config, (*problems, *cross)


def _cross_field_problems(
    config: AgentConfig, require_token: bool, require_source: bool
) -> Iterator[str]:
    if require_source and config.source.kind == "replay" and not config.source.path:
        yield "source.path: required when source.kind = 'replay'"
    if require_source and config.source.kind == "factory" and ":" not in config.source.factory:
        yield (
            f"source.factory: expected 'module:function' when source.kind = 'factory', "
            f"got {config.source.factory!r}"
        )
    if ":" not in config.perception.factory:
        yield f"perception.factory: expected 'module:function', got {config.perception.factory!r}"
    if config.upload.backoff_cap_s < config.upload.backoff_base_s:
        yield (
            f"upload.backoff_cap_s ({config.upload.backoff_cap_s}) must be >= "
            f"upload.backoff_base_s ({config.upload.backoff_base_s})"
        )
    if config.updates.public_key or config.updates.enabled:
        try:
            config.update_public_key()
        except ConfigError as exc:
            yield str(exc)
    if (config.upload.enabled or config.updates_active()) and require_token:
        try:
            token = config.token()
        except ConfigError as exc:
            yield str(exc)
        else:
            if not token:
                yield (
                    "vehicle.token: empty; set vehicle.token_file, vehicle.token "
                    "or LONGTAIL_VEHICLE__TOKEN"
                )
    for i, rule in enumerate(config.selection.rules):
        if not rule.name or not rule.when:
            yield f"selection.rules[{i}]: every rule needs a name and a when, got {rule!r}"
