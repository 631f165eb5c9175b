"""Backend configuration: a TOML file, then ``LONGTAIL_<SECTION>__<OPTION>`` environment
overrides (the same form as the agent's), validated once at start-up. Every option has a safe default; unsafe combinations are refused.

Example ``backend.toml`` (all optional; relative paths are relative to the file)::

    [ingest]
    host = "127.0.0.1"          # a non-loopback host needs TLS (or allow_insecure_remote = true)
    port = 50051
    tls_cert = ""               # PEM files; both or neither
    tls_key = ""
    max_frame_bytes = 67108864
    [api]
    host = "127.0.0.1"          # the API has no authentication yet: loopback unless allow_remote
    port = 8080
    [storage]
    kind = "local"              # or "s3" (bucket, prefix, endpoint_url, region)
    path = "data/blobs"
    staging_path = "data/staging"
    [metadata]
    url = "sqlite:///data/longtail.db"   # or postgresql+psycopg://…; passwords only via env

Environment: ``LONGTAIL_INGEST__PORT=50052``, ``LONGTAIL_METADATA__URL=postgresql+psycopg://…``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from backend.errors import ConfigError

MiB = 1024 * 1024


@dataclass(frozen=True)
class IngestConfig:
    """The gRPC ingest server and its limits."""

    host: str = "127.0.0.1"
    port: int = 50051
    tls_cert: str = ""
    tls_key: str = ""
    allow_insecure_remote: bool = False
    #: threads serving RPCs; a client stream holds one while it uploads
    workers: int = 32
    #: streams accepted at once (queued beyond ``workers``); more get RESOURCE_EXHAUSTED
    max_concurrent_rpcs: int = 1024
    max_frame_bytes: int = 64 * MiB
    max_chunk_bytes: int = 4 * MiB
    max_metadata_bytes: int = 1 * MiB
    max_decompressed_bytes: int = 256 * MiB
    #: seconds a second stream for the same (vehicle, frame) waits for the first to end
    lock_wait_s: float = 5.0


@dataclass(frozen=True)
class ApiConfig:
    """The HTTP API (FastAPI under uvicorn)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    allow_remote: bool = False


@dataclass(frozen=True)
class StorageConfig:
    """Where payloads live: ``local`` directory or ``s3`` bucket; staging is always local."""

    kind: str = "local"
    path: str = "data/blobs"
    staging_path: str = "data/staging"
    staging_max_age_s: float = 7 * 24 * 3600.0
    #: orphan blobs younger than this survive a sweep: another replica may be mid-upload
    orphan_grace_s: float = 900.0
    bucket: str = ""
    prefix: str = ""
    endpoint_url: str = ""
    region: str = "us-east-1"


@dataclass(frozen=True)
class MetadataConfig:
    """The SQLAlchemy database URL (SQLite by default, PostgreSQL at scale)."""

    url: str = "sqlite:///data/longtail.db"


@dataclass(frozen=True)
class BackendConfig:
    """The whole backend configuration."""

    ingest: IngestConfig = field(default_factory=IngestConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    metadata: MetadataConfig = field(default_factory=MetadataConfig)


_SECTIONS: dict[str, type[Any]] = {
    "ingest": IngestConfig,
    "api": ApiConfig,
    "storage": StorageConfig,
    "metadata": MetadataConfig,
}


def _coerce(where: str, raw: object, kind: type[Any]) -> Any:
    """Convert a TOML or environment value to the option's type, naming the option on failure."""
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in {
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        }:
            return raw.lower() in {"1", "true", "yes", "on"}
    elif kind is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            try:
                return int(raw, 0)
            except ValueError:
                pass
    elif kind is float:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        if isinstance(raw, str):
            try:
                return float(raw)
            except ValueError:
                pass
    elif kind is str and isinstance(raw, str):
        return raw
    raise ConfigError(f"option {where} must be a {kind.__name__}, got {raw!r}")


def _section(name: str, values: Mapping[str, object], env: Mapping[str, str]) -> Any:
    cls = _SECTIONS[name]
    types = {
        f.name: {"int": int, "float": float, "bool": bool, "str": str}[str(f.type)]
        for f in fields(cls)
    }
    unknown = set(values) - set(types)
    if unknown:
        raise ConfigError(
            f"unknown option(s) in [{name}]: {sorted(unknown)}; known: {sorted(types)}"
        )
    merged: dict[str, Any] = {k: _coerce(f"{name}.{k}", v, types[k]) for k, v in values.items()}
    for key, kind in types.items():
        env_name = f"LONGTAIL_{name.upper()}__{key.upper()}"
        if env_name in env:
            merged[key] = _coerce(env_name, env[env_name], kind)
    return cls(**merged)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _resolve(path: str, base: Path) -> str:
    return str(path if not path or Path(path).is_absolute() else base / path)


def validate(config: BackendConfig) -> BackendConfig:
    """Refuse invalid or unsafe settings with a message naming the option; return the config."""
    ing, api, sto = config.ingest, config.api, config.storage
    for section, value in (("ingest", ing.port), ("api", api.port)):
        if not 0 <= value <= 65535:
            raise ConfigError(f"{section}.port must be in 0..65535, got {value}")
    for name in (
        "workers",
        "max_concurrent_rpcs",
        "max_frame_bytes",
        "max_chunk_bytes",
        "max_metadata_bytes",
        "max_decompressed_bytes",
    ):
        if getattr(ing, name) <= 0:
            raise ConfigError(f"ingest.{name} must be positive, got {getattr(ing, name)}")
    if ing.max_chunk_bytes > ing.max_frame_bytes:
        raise ConfigError(
            f"ingest.max_chunk_bytes ({ing.max_chunk_bytes}) exceeds ingest.max_frame_bytes ({ing.max_frame_bytes})"
        )
    if bool(ing.tls_cert) != bool(ing.tls_key):
        raise ConfigError("ingest.tls_cert and ingest.tls_key must be set together")
    for opt in ("tls_cert", "tls_key"):
        value = getattr(ing, opt)
        if value and not Path(value).is_file():
            raise ConfigError(f"ingest.{opt} names {value!r}, which is not a readable file")
    if not ing.tls_cert and not _is_loopback(ing.host) and not ing.allow_insecure_remote:
        raise ConfigError(
            f"ingest.host = {ing.host!r} exposes vehicle tokens in clear text: set ingest.tls_cert "
            "and ingest.tls_key, or ingest.allow_insecure_remote = true behind a TLS proxy"
        )
    if api.enabled and not _is_loopback(api.host) and not api.allow_remote:
        raise ConfigError(
            f"api.host = {api.host!r}: the HTTP API has no authentication yet; "
            "keep it on loopback or set api.allow_remote = true behind an authenticating proxy"
        )
    if sto.kind not in {"local", "s3"}:
        raise ConfigError(f"storage.kind must be 'local' or 's3', got {sto.kind!r}")
    if sto.kind == "local" and not sto.path:
        raise ConfigError("storage.path must name a directory for storage.kind = 'local'")
    if sto.kind == "s3" and not sto.bucket:
        raise ConfigError("storage.bucket is required for storage.kind = 's3'")
    if not sto.staging_path:
        raise ConfigError("storage.staging_path must name a local directory")
    if not config.metadata.url:
        raise ConfigError("metadata.url must be a SQLAlchemy URL, got an empty one")
    return config


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> BackendConfig:
    """Read ``path`` (TOML; None means defaults only), apply environment overrides, validate."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        base = Path(path).resolve().parent
    unknown = set(data) - set(_SECTIONS)
    if unknown:
        raise ConfigError(
            f"unknown section(s) in {path}: {sorted(unknown)}; known: {sorted(_SECTIONS)}"
        )
    for name, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(f"[{name}] in {path} must be a table, got {values!r}")
    file_url = str(data.get("metadata", {}).get("url", ""))
    if _has_password(file_url):
        raise ConfigError(
            f"metadata.url in {path} contains a password; pass it in LONGTAIL_METADATA__URL instead"
        )
    sections = {name: _section(name, data.get(name, {}), env) for name in _SECTIONS}
    config = BackendConfig(**sections)
    sto = config.storage
    config = replace(
        config,
        storage=replace(
            sto, path=_resolve(sto.path, base), staging_path=_resolve(sto.staging_path, base)
        ),
        ingest=replace(
            config.ingest,
            tls_cert=_resolve(config.ingest.tls_cert, base),
            tls_key=_resolve(config.ingest.tls_key, base),
        ),
        metadata=replace(config.metadata, url=_resolve_sqlite(config.metadata.url, base)),
    )
    return validate(config)


def _has_password(url: str) -> bool:
    if "://" not in url:
        return False
    netloc = url.split("://", 1)[1].split("/", 1)[0]
    return "@" in netloc and ":" in netloc.split("@", 1)[0]


def _resolve_sqlite(url: str, base: Path) -> str:
    """Make a relative SQLite path relative to the config file, like the other paths."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str(base / url[len(prefix) :])
    return url


def as_dict(config: BackendConfig) -> dict[str, Any]:
    """The configuration as plain data (for logging at start-up; holds no secrets)."""
    return dataclasses.asdict(config)
