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
    host = "127.0.0.1"          # tokens travel in clear text: loopback unless allow_remote (behind TLS)
    port = 8080
    [storage]
    kind = "local"              # or "s3" (bucket, prefix, endpoint_url, region)
    path = "data/blobs"
    staging_path = "data/staging"
    [metadata]
    url = "sqlite:///data/longtail.db"   # or postgresql+psycopg://…; passwords only via env
    [release]
    signing_key_path = "data/release/signing.key"   # Ed25519 key, mode 0600, outside the repo
    generate_key = true         # create it on first use (false in production: run keygen once)

The shipped, checked example is ``backend/backend.example.toml`` (``longtail backend
example-config`` prints it, ``longtail backend check-config`` checks a file).

Environment: ``LONGTAIL_INGEST__PORT=50052``, ``LONGTAIL_METADATA__URL=postgresql+psycopg://…``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from backend.annotation.active import UNCERTAINTY_SCORES
from core.config import collect_config, option, read_toml
from core.config import load_config as load_config_file
from core.errors import ConfigError

MiB = 1024 * 1024


@dataclass(frozen=True)
class IngestConfig:
    """The gRPC ingest server and its limits."""

    host: str = "127.0.0.1"
    port: int = 50051
    tls_cert: str = option("", path=True)
    tls_key: str = option("", path=True)
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
    #: larger request bodies are refused with 413 (a frame's point labels are ~100 kB)
    max_body_bytes: int = option(64 * MiB, low=1024, high=2**31)


@dataclass(frozen=True)
class StorageConfig:
    """Where payloads live: ``local`` directory or ``s3`` bucket; staging is always local."""

    kind: str = "local"
    path: str = option("data/blobs", path=True)
    staging_path: str = option("data/staging", path=True)
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
class RoutingRuleConfig:
    """One routing rule (``backend.annotation.routing``): when ``when`` holds, ``tier``."""

    name: str = ""
    when: str = ""
    tier: int = option(2, low=1, high=3)
    overlap: int = option(1, low=1, high=9)


#: Shipped routing: vulnerable road users the model is unsure of, and frames the vehicle found
#: surprising or without a confident detection, get three independent annotators; confident,
#: unsurprising frames are auto-accepted (spot-checked); the rest get an annotator + a reviewer.
DEFAULT_ROUTING_RULES = (
    RoutingRuleConfig(
        "unsure_vru", "count.vru > 0 and min_confidence.vru < 0.6", tier=3, overlap=3
    ),
    RoutingRuleConfig(
        "surprising", "frame.surprise > 3 or rule.novel_object > 0", tier=3, overlap=3
    ),
    RoutingRuleConfig("confident", "prelabel.count > 0 and prelabel.min_confidence >= 0.9", tier=1),
)


@dataclass(frozen=True)
class AnnotationConfig:
    """Tasks, routing, leases, gold and consensus (``backend.annotation``)."""

    enabled: bool = True
    #: a frame becomes a task when this holds (``core.expr`` over priority, frame.<score>,
    #: rule.<name>, points, detections); empty: every stored frame
    task_rule: str = ""
    #: wait this long after a frame arrives for the context frames of its trigger
    settle_s: float = option(5.0, low=0.0, high=3600.0)
    #: context frames within this many seconds of a key frame join its task
    context_window_s: float = option(2.0, low=0.0, high=60.0)
    #: how often the server turns stored frames into tasks and expires leases
    sync_interval_s: float = option(2.0, low=0.05, high=3600.0)
    lease_s: float = option(900.0, low=1.0, high=86400.0)
    default_tier: int = option(2, low=1, high=3)
    overlap: int = option(3, low=2, high=9)
    spot_check_share: float = option(0.1, low=0.0, high=1.0)
    #: share of the tasks handed to an annotator that are gold (hidden known answers)
    gold_share: float = option(0.1, low=0.0, high=1.0)
    #: gold frames every new labeller labels before real work
    calibration_tasks: int = option(3, low=0, high=100)
    #: a labeller whose mean gold accuracy is below this is flagged (calibration and ongoing)
    min_gold_accuracy: float = option(0.5, low=0.0, high=1.0)
    #: gold tasks needed before the ongoing accuracy check can flag someone
    min_gold_tasks: int = option(3, low=1, high=1000)
    #: consensus escalates to the senior panel when agreement falls below this (0..1)
    min_agreement: float = option(0.6, low=0.0, high=1.0)
    #: 3D IoU a box must reach to match, for vehicle-like classes and for everything else
    vehicle_iou: float = option(0.7, low=0.05, high=1.0)
    other_iou: float = option(0.5, low=0.05, high=1.0)
    rules: tuple[RoutingRuleConfig, ...] = DEFAULT_ROUTING_RULES
    #: seed of spot checks and gold interleaving; 0 draws from the OS
    seed: int = option(0, low=0)


@dataclass(frozen=True)
class ActiveConfig:
    """Active learning (``backend.annotation.active``, ``backend.annotation.rescoring``): after
    each new champion the frames of the pending annotation tasks are re-scored with it and the
    queue of those tasks follows the active-learning order."""

    #: the serving process re-scores on its own (``POST /tasks/queue/priorities`` works anyway)
    enabled: bool = True
    #: how often the serving process looks for a new champion or unscored pending tasks
    #: (seconds); a promotion in the serving process wakes it at once
    interval_s: float = option(60.0, low=0.05, high=86400.0)
    #: the per-candidate uncertainty (a score of ``agent.scoring``): BALD mutual information
    #: of the ensemble by default
    score: str = option("mutual_info", choices=UNCERTAINTY_SCORES)
    #: which candidates a frame is judged by: "foreground" (what the task shows as pre-labels)
    #: or "all" (the background candidates too)
    candidates: str = option("foreground", choices=("foreground", "all"))
    #: tasks per batch of the order (one predicted class holds at most ``max_kind_share`` of one)
    batch_size: int = option(20, low=1, high=100_000)
    weight_uncertainty: float = option(1.0, low=0.0, high=1000.0)
    weight_diversity: float = option(1.0, low=0.0, high=1000.0)
    weight_kind: float = option(0.5, low=0.0, high=1000.0)
    max_kind_share: float = option(0.5, low=0.01, high=1.0)
    #: frames re-scored per transaction (progress is logged after each)
    chunk: int = option(32, low=1, high=100_000)
    #: where the scoring kernels run
    device: str = option("cpu", choices=("auto", "cpu", "cuda"))
    #: champion packages unpacked from the registry for re-scoring
    dir: str = option("data/active", path=True)


@dataclass(frozen=True)
class AuthConfig:
    """People's sessions."""

    #: lifetime of a token issued by a login (seconds)
    session_s: float = option(12 * 3600.0, low=60.0, high=30 * 86400.0)


@dataclass(frozen=True)
class WebhookConfig:
    """Delivery of webhook events (HMAC-signed POSTs, retried with exponential backoff)."""

    timeout_s: float = option(5.0, low=0.1, high=120.0)
    max_attempts: int = option(8, low=1, high=100)
    backoff_base_s: float = option(1.0, low=0.01, high=3600.0)
    backoff_cap_s: float = option(600.0, low=0.01, high=86400.0)
    dispatch_interval_s: float = option(1.0, low=0.05, high=3600.0)


@dataclass(frozen=True)
class ReleaseConfig:
    """Model release (``backend.release``): the signing key and the defaults of a rollout
    campaign's canary share and health limits (a campaign may state its own)."""

    #: the Ed25519 private key (PKCS#8 PEM, mode 0600) that signs model archives; keep it out of
    #: the repository: vehicles trust its public key (``longtail release pubkey``)
    signing_key_path: str = option("data/release/signing.key", path=True)
    #: create the key file on first use when it is missing (logged with its public key); set
    #: false where a missing key must be an error, not a new identity vehicles do not trust
    generate_key: bool = True
    #: share of the fleet that gets a candidate first (at least one vehicle)
    canary_share: float = option(0.1, low=0.0, high=1.0)
    #: candidate health reports from canary vehicles before a campaign is judged
    min_canary_reports: int = option(3, low=1, high=100_000)
    #: errors per frame a canary may show
    max_error_rate: float = option(0.01, low=0.0, high=1.0)
    #: canary trigger rate / the fleet's (triggers per frame)
    max_trigger_rate_ratio: float = option(3.0, low=0.0, high=1e6)
    #: per-frame latency p99 a canary may show (milliseconds)
    max_latency_p99_ms: float = option(250.0, low=0.0, high=1e7)
    #: relative change of the score mean or p95 versus the fleet's
    max_score_shift: float = option(0.5, low=0.0, high=1e6)
    #: packages of the candidate the canary vehicles may refuse (tampered, unsigned, another
    #: key, would not load) before the campaign rolls back
    max_refusals: int = option(0, low=0, high=1_000_000)
    #: how often a serving process judges the active campaign (seconds)
    evaluate_interval_s: float = option(10.0, low=0.05, high=86400.0)


@dataclass(frozen=True)
class TrainingConfig:
    """Targeted retraining (``backend.training.retrain``)."""

    #: training sets, candidate caches, runs in progress and the local MLflow store
    dir: str = option("data/training", path=True)
    #: Ray cluster address (``ray://host:10001``, ``auto``, or ``local`` for a private instance);
    #: empty: runs execute in a local worker process
    ray_address: str = ""
    #: MLflow tracking URI (``http://mlflow:5000``); empty: ``sqlite:///<dir>/mlflow.db``
    mlflow_tracking_uri: str = ""
    seed: int = 0
    epochs: int = option(8, low=1, high=1000)
    learning_rate: float = option(5e-4, low=1e-7, high=1.0)
    #: share of a training set's frames replayed from earlier training data
    replay_share: float = option(0.5, low=0.0, high=0.95)
    #: accepted labelled objects a rare class needs to become a known class of the next model
    min_labels: int = option(20, low=1, high=1_000_000)
    #: validation recall (training set's validation split) a new class needs to stay in the
    #: next model; below it the class is demoted back to unknown (``backend.training.ontology``)
    min_val_recall: float = option(0.5, low=0.0, high=1.0)
    #: new classes tried per retraining run, the best-supported first (0: the ontology is frozen)
    max_promoted: int = option(2, low=0, high=1000)
    threads: int = option(2, low=1, high=256)
    #: the edge-case suite manifest (``longtail suite build``) a retraining turn is gated on;
    #: empty: turns run only from the CLI, which names one (``release turn --suite``)
    suite: str = option("", path=True)
    #: earlier training drives replayed in every turn (dataset directories)
    replay: tuple[str, ...] = option((), path=True)
    #: the release gate's rules; empty: the shipped ``backend/release/gate.toml``
    gate: str = option("", path=True)
    #: evaluate the retraining trigger in the serving process and start a turn when it fires
    auto_trigger: bool = False
    #: how often the serving process evaluates the trigger (seconds)
    trigger_check_s: float = option(300.0, low=1.0, high=7 * 86400.0)
    #: accepted boxes since the last turn, all classes, that start one (0: rule off)
    trigger_min_new_labels: int = option(200, low=0, high=10**9)
    #: share of one class's accepted boxes that are new since the last turn (0: rule off)
    trigger_slice_share: float = option(0.5, low=0.0, high=1.0)
    #: new boxes a class needs before its share counts
    trigger_slice_min_new: int = option(20, low=1, high=10**9)
    #: start a turn at least this often while anything is new (seconds; 0: no schedule)
    trigger_interval_s: float = option(0.0, low=0.0, high=366 * 86400.0)
    #: a running turn's lease in the database, renewed every third of it (seconds); a process
    #: that dies mid-turn blocks the next one at most this long
    lease_s: float = option(900.0, low=10.0, high=86400.0)
    #: weak supervision: a turn adds the champion's weak labels of pool frames no task holds
    #: (``backend.training.weak``) to the training split
    weak_supervision: bool = False
    #: posterior a weak label needs to be kept (the label model's, 0..1]
    weak_min_posterior: float = option(0.95, low=0.5, high=1.0)
    #: newest unlabelled pool frames weakly labelled per turn
    weak_max_frames: int = option(2000, low=1, high=1_000_000)
    #: most share of a training split's frames that weak labels make up
    weak_share: float = option(0.5, low=0.0, high=0.9)


@dataclass(frozen=True)
class SafetyConfig:
    """The safety case (``backend.safety``)."""

    #: the case in GSN YAML (gsn2x schema, validated at start-up: ``longtail safety validate``);
    #: empty: the case shipped with the backend (``backend/safety/case.yaml``)
    case_path: str = option("", path=True)


@dataclass(frozen=True)
class BackendConfig:
    """The whole backend configuration."""

    ingest: IngestConfig = field(default_factory=IngestConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    metadata: MetadataConfig = field(default_factory=MetadataConfig)
    annotation: AnnotationConfig = field(default_factory=AnnotationConfig)
    active: ActiveConfig = field(default_factory=ActiveConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    release: ReleaseConfig = field(default_factory=ReleaseConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate(config: BackendConfig) -> BackendConfig:
    """Refuse invalid or unsafe settings (every problem, each naming its option); return the
    config."""
    problems = list(config_problems(config))
    if problems:
        raise ConfigError(
            problems[0]
            if len(problems) == 1
            else "\n  ".join([f"{len(problems)} problems:", *problems]),
            tuple(problems),
        )
    return config


def config_problems(config: BackendConfig) -> Iterator[str]:
    """The cross-field and safety problems of ``config``, one message per problem."""
    ing, api, sto = config.ingest, config.api, config.storage
    for section, value in (("ingest", ing.port), ("api", api.port)):
        if not 0 <= value <= 65535:
            yield f"{section}.port must be in 0..65535, got {value}"
    for name in (
        "workers",
        "max_concurrent_rpcs",
        "max_frame_bytes",
        "max_chunk_bytes",
        "max_metadata_bytes",
        "max_decompressed_bytes",
    ):
        if getattr(ing, name) <= 0:
            yield f"ingest.{name} must be positive, got {getattr(ing, name)}"
    if ing.max_chunk_bytes > ing.max_frame_bytes:
        yield (
            f"ingest.max_chunk_bytes ({ing.max_chunk_bytes}) exceeds "
            f"ingest.max_frame_bytes ({ing.max_frame_bytes})"
        )
    if bool(ing.tls_cert) != bool(ing.tls_key):
        yield "ingest.tls_cert and ingest.tls_key must be set together"
    for opt in ("tls_cert", "tls_key"):
        value = getattr(ing, opt)
        if value and not Path(value).is_file():
            yield f"ingest.{opt} names {value!r}, which is not a readable file"
    if not ing.tls_cert and not _is_loopback(ing.host) and not ing.allow_insecure_remote:
        yield (
            f"ingest.host = {ing.host!r} exposes vehicle tokens in clear text: set ingest.tls_cert "
            "and ingest.tls_key, or ingest.allow_insecure_remote = true behind a TLS proxy"
        )
    if api.enabled and not _is_loopback(api.host) and not api.allow_remote:
        yield (
            f"api.host = {api.host!r}: the HTTP API carries tokens and passwords in clear text; "
            "keep it on loopback or set api.allow_remote = true behind a TLS proxy"
        )
    if sto.kind not in {"local", "s3"}:
        yield f"storage.kind must be 'local' or 's3', got {sto.kind!r}"
    if sto.kind == "local" and not sto.path:
        yield "storage.path must name a directory for storage.kind = 'local'"
    if sto.kind == "s3" and not sto.bucket:
        yield "storage.bucket is required for storage.kind = 's3'"
    if not sto.staging_path:
        yield "storage.staging_path must name a local directory"
    if not config.metadata.url:
        yield "metadata.url must be a SQLAlchemy URL, got an empty one"
    if config.release.canary_share <= 0.0:
        yield f"release.canary_share must be above 0, got {config.release.canary_share}"
    if not config.release.signing_key_path:
        yield "release.signing_key_path must name the model signing key file"
    if config.webhooks.backoff_cap_s < config.webhooks.backoff_base_s:
        yield (
            f"webhooks.backoff_cap_s ({config.webhooks.backoff_cap_s}) must be >= "
            f"webhooks.backoff_base_s ({config.webhooks.backoff_base_s})"
        )
    yield from annotation_problems(config.annotation)


def annotation_problems(config: AnnotationConfig) -> Iterator[str]:
    """The routing rules and task rule of ``config``, compiled: one message per bad rule."""
    from backend.annotation.ontology import default_ontology
    from backend.annotation.routing import compile_rules
    from backend.annotation.tasks_rule import compile_task_rule

    specs = [(r.name, r.when, r.tier, r.overlap) for r in config.rules]
    try:
        compile_rules(specs, default_ontology())
    except ConfigError as exc:
        yield from exc.problems
    try:
        compile_task_rule(config.task_rule)
    except ConfigError as exc:
        yield f"annotation.task_rule: {exc}"


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> BackendConfig:
    """Read ``path`` (TOML; None means defaults only), apply environment overrides, validate;
    every problem is reported in one ConfigError."""
    raw = read_toml(path)
    if _has_password(_file_url(raw.data)):
        raise ConfigError(
            f"metadata.url in {path} contains a password; pass it in LONGTAIL_METADATA__URL instead"
        )
    config = load_config_file(BackendConfig, path, env, raw=raw, checks=config_problems)
    # the database file, like every other relative path, lives next to the config file
    return replace(
        config,
        metadata=replace(config.metadata, url=_resolve_sqlite(config.metadata.url, raw.base)),
    )


def check_config(path: Path, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Every problem of the config file ``path`` in one pass, each located (``longtail backend
    check-config``): the options, then the cross-field and safety rules, which run on the
    configuration as built even when some options were refused (those fall back to defaults).
    An unreadable or invalid TOML file raises ConfigError."""
    raw = read_toml(path)
    config, problems = collect_config(BackendConfig, path, env, raw=raw)
    located = [*problems]
    if _has_password(_file_url(raw.data)):
        located.append(
            f"{path}: metadata.url contains a password; pass it in LONGTAIL_METADATA__URL instead"
        )
    reported = " ".join(problems)
    for problem in config_problems(config):
        option = problem.split(" ", 1)[0]
        if f"{option}:" not in reported and f"{option} (environment" not in reported:
            located.append(f"{path}: {problem}")
    return tuple(located)


def _file_url(data: Mapping[str, Any]) -> str:
    metadata = data.get("metadata", {})
    return str(metadata.get("url", "")) if isinstance(metadata, dict) else ""


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
