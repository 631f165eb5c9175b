"""The one place a backend process is assembled from its configuration.

:func:`build_backend` creates the engine, migrates the schema, and builds the blob store,
staging area, repository and ingest service; :func:`start_ingest` adds a running gRPC server
(Ingest, and ModelUpdates over the rollout service).
Tests and the agent's end-to-end tests use :func:`local_config` + :func:`start_ingest`::

    backend = build_backend(local_config(tmp_path))
    token = backend.add_vehicle("car-1")
    running = start_ingest(backend)          # running.port, running.stop()
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from backend.annotation.active_runtime import FrameRuntime, vehicle_runtime
from backend.annotation.builder import TaskBuilder
from backend.annotation.consensus import ConsensusMaker
from backend.annotation.editing import LabelEditor
from backend.annotation.gold import GoldKeeper
from backend.annotation.queue import WorkQueue
from backend.annotation.rescoring import ActiveRescorer, wake_on_promote
from backend.annotation.services import AnnotationServices
from backend.annotation.store import ensure_default_ontology
from backend.annotation.workflow import Workflow
from backend.auth.people import People, utcnow
from backend.config import (
    ActiveConfig,
    AnnotationConfig,
    BackendConfig,
    IngestConfig,
    MetadataConfig,
    ReleaseConfig,
    SafetyConfig,
    StorageConfig,
    validate,
)
from backend.datasets.versions import DatasetVersions
from backend.ingest.auth import TokenAuthenticator, register_vehicle
from backend.ingest.server import IngestServerHandle, TlsFiles, start_ingest_server
from backend.ingest.service import IngestService
from backend.ingest.sweep import SweepReport, sweep_orphans
from backend.ingest.validation import IngestLimits, PayloadChecker
from backend.metadata.db import make_engine
from backend.metadata.migrate import upgrade
from backend.metadata.unit_of_work import Database
from backend.ops.service import OpsService
from backend.periodic import Periodic
from backend.release.delivery import SERVICE_NAME as DELIVERY_SERVICE
from backend.release.delivery import ModelUpdatesService, model_updates_handler
from backend.release.registry import CHAMPION, ModelRegistry, PromotionHook, unpacked_package
from backend.release.services import ReleaseServices, build_release
from backend.release.types import UpdateSource
from backend.safety.case import DEFAULT_CASE_FILE, load_case
from backend.safety.service import SafetyService
from backend.storage.base import BlobStore
from backend.storage.local import LocalBlobStore
from backend.storage.s3 import S3BlobStore, make_s3_client
from backend.storage.staging import StagingArea

if TYPE_CHECKING:
    from fastapi import FastAPI

    from backend.training.scheduler import RetrainScheduler

log = logging.getLogger(__name__)


def local_config(
    data_dir: Path, *, port: int = 0, metadata_url: str | None = None
) -> BackendConfig:
    """A loopback, local-disk, SQLite configuration under ``data_dir`` (for tests and demos)."""
    data_dir = Path(data_dir)
    return validate(
        BackendConfig(
            ingest=IngestConfig(port=port),
            storage=StorageConfig(
                path=str(data_dir / "blobs"), staging_path=str(data_dir / "staging")
            ),
            metadata=MetadataConfig(url=metadata_url or f"sqlite:///{data_dir / 'longtail.db'}"),
            release=ReleaseConfig(signing_key_path=str(data_dir / "release" / "signing.key")),
            active=ActiveConfig(dir=str(data_dir / "active")),
        )
    )


def open_database(config: MetadataConfig) -> Database:
    """The metadata database of ``config``, its schema migrated to the newest revision."""
    engine = make_engine(config.url)
    upgrade(engine)
    return Database(engine)


def build_blob_store(config: StorageConfig) -> BlobStore:
    """The blob store the configuration names."""
    if config.kind == "s3":
        client = make_s3_client(
            endpoint_url=config.endpoint_url or None, region=config.region or None
        )
        return S3BlobStore(client, config.bucket, config.prefix)
    return LocalBlobStore(Path(config.path))


def ingest_limits(config: IngestConfig) -> IngestLimits:
    """The upload limits of the configuration."""
    return IngestLimits(
        max_frame_bytes=config.max_frame_bytes,
        max_chunk_bytes=config.max_chunk_bytes,
        max_metadata_bytes=config.max_metadata_bytes,
        max_decompressed_bytes=config.max_decompressed_bytes,
    )


@dataclass
class Backend:
    """The assembled components of one backend process."""

    config: BackendConfig
    db: Database
    blobs: BlobStore
    staging: StagingArea
    service: IngestService
    people: People
    annotation: AnnotationServices
    release: ReleaseServices
    safety: SafetyService
    active: ActiveRescorer
    clock: Callable[[], datetime] = utcnow
    _training: RetrainScheduler | None = field(default=None, init=False, repr=False)

    @property
    def training(self) -> RetrainScheduler:
        """The retraining trigger and its one-turn lease (built on first use)."""
        if self._training is None:
            self._training = build_training(self)
        return self._training

    def add_vehicle(self, name: str) -> str:
        """Register a vehicle and return its token (shown once)."""
        return register_vehicle(self.db, name)

    def sweep(self, grace_s: float) -> SweepReport:
        """Remove orphan blobs older than ``grace_s`` and abandoned staging files."""
        self.staging.sweep(self.config.storage.staging_max_age_s)
        return sweep_orphans(self.blobs, self.db, grace_s=grace_s)

    def close(self) -> None:
        """Release database connections (a retraining turn still running here is left to its
        lease: the next turn starts once the lease has run out)."""
        if self._training is not None and not self._training.wait(0):
            log.warning("closing the backend while a retraining turn runs")
        self.db.close()


def build_backend(
    config: BackendConfig,
    *,
    blobs: BlobStore | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Backend:
    """Assemble a backend from ``config``: migrate the schema, open the stores, build the service.

    ``blobs`` replaces the configured blob store (tests pass a fault-injecting one); ``clock``
    is the annotation stage's time (tests move it to expire leases without sleeping).
    """
    db = open_database(config.metadata)
    ensure_default_ontology(db, utcnow())
    store = blobs if blobs is not None else build_blob_store(config.storage)
    staging = StagingArea(Path(config.storage.staging_path))
    limits = ingest_limits(config.ingest)
    service = IngestService(
        authenticator=TokenAuthenticator(db),
        db=db,
        blobs=store,
        staging=staging,
        limits=limits,
        payload_checker=PayloadChecker(limits),
        lock_wait_s=config.ingest.lock_wait_s,
    )
    log.info(
        "backend assembled: metadata %s, blobs %s, staging %s",
        db.url,
        store.describe(),
        staging.root,
    )
    active_wake = threading.Event()
    release, safety = build_release_stage(
        db, store, config, clock, on_promote=(wake_on_promote(active_wake),)
    )
    return Backend(
        config=config,
        db=db,
        blobs=store,
        staging=staging,
        service=service,
        people=People(db, token_ttl=timedelta(seconds=config.auth.session_s), clock=clock),
        annotation=build_annotation(db, store, config.annotation, clock=clock),
        release=release,
        safety=safety,
        active=build_active(db, store, config.active, release.registry, clock, active_wake),
        clock=clock,
    )


def build_active(
    db: Database,
    blobs: BlobStore,
    config: ActiveConfig,
    registry: ModelRegistry,
    clock: Callable[[], datetime],
    wake: threading.Event,
) -> ActiveRescorer:
    """Active learning over ``db``: the champion of ``registry``, its package unpacked under
    ``[active] dir`` and run as the vehicles run it; ``wake`` is what promotions set."""

    def champion() -> str | None:
        found = registry.alias(CHAMPION)
        return None if found is None else found.version

    def runtime_for(version: str) -> FrameRuntime:
        return vehicle_runtime(unpacked_package(registry, version, Path(config.dir)), config)

    return ActiveRescorer(
        db, blobs, config, champion=champion, runtime_for=runtime_for, clock=clock, wake=wake
    )


def build_training(backend: Backend) -> RetrainScheduler:
    """The retraining trigger of ``backend``: ``[training]``'s policy over the accepted labels
    of its database, each turn a :func:`backend.release.turn.turn_on_accepted_labels`."""
    from backend.release.turn import turn_blocker, turn_on_accepted_labels
    from backend.training.scheduler import RetrainScheduler, policy_from_config

    config = backend.config.training

    def start_turn(labels_cutoff: datetime, name: str) -> dict[str, object]:
        return turn_on_accepted_labels(backend, labels_cutoff, name, clock=backend.clock)

    return RetrainScheduler(
        backend.db,
        policy_from_config(config),
        start_turn,
        backend.clock,
        auto=config.auto_trigger,
        lease_s=config.lease_s,
        ready=lambda: turn_blocker(config),
    )


def build_safety(
    db: Database, config: SafetyConfig, clock: Callable[[], datetime] = utcnow
) -> SafetyService:
    """The safety stage over ``db`` with the configured case, validated now (a bad case stops
    the process at start-up with every problem named, never at a release)."""
    case = load_case(config.case_path or DEFAULT_CASE_FILE)
    log.info("safety case %s (%s, %d nodes)", case.name, case.digest[:12], len(case.nodes))
    return SafetyService(db, case, clock)


def build_release_stage(
    db: Database,
    blobs: BlobStore,
    config: BackendConfig,
    clock: Callable[[], datetime] = utcnow,
    *,
    on_promote: Sequence[PromotionHook] = (),
) -> tuple[ReleaseServices, SafetyService]:
    """The release services with the safety stage hooked into every promotion (each release
    stores its safety case snapshot in the promotion's transaction), then ``on_promote`` (the
    serving process wakes its active-learning re-scoring); the release CLI uses this too, so
    ``longtail release promote`` records the case like the API does."""
    safety = build_safety(db, config.safety, clock)
    release = build_release(
        db, blobs, config.release, clock, on_promote=(safety.record_release, *on_promote)
    )
    return release, safety


def build_annotation(
    db: Database,
    blobs: BlobStore,
    config: AnnotationConfig,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> AnnotationServices:
    """The annotation stage's services over one database and blob store."""
    rng = random.Random(config.seed or None)
    queue = WorkQueue(db, config, clock, rng)
    editor = LabelEditor(db, queue, clock)
    gold = GoldKeeper(db, config, clock, rng)
    return AnnotationServices(
        builder=TaskBuilder(db, blobs, config, clock, rng),
        queue=queue,
        editor=editor,
        workflow=Workflow(db, queue, editor, gold, ConsensusMaker(config, clock), clock),
        gold=gold,
    )


def start_ingest(
    backend: Backend, *, port: int | None = None, delivery: UpdateSource | None = None
) -> IngestServerHandle:
    """Start the gRPC ingest server of ``backend`` (``port`` overrides the configured one).

    The same server serves ``longtail.v1.ModelUpdates`` to the vehicles, with the same tokens,
    over ``delivery`` (default: the backend's rollout service; tests pass their own)."""
    cfg = backend.config.ingest
    tls = TlsFiles(Path(cfg.tls_cert), Path(cfg.tls_key)) if cfg.tls_cert else None
    updates = ModelUpdatesService(
        authenticator=TokenAuthenticator(backend.db),
        delivery=delivery if delivery is not None else backend.release.rollout,
    )
    return start_ingest_server(
        backend.service,
        host=cfg.host,
        port=cfg.port if port is None else port,
        tls=tls,
        workers=cfg.workers,
        max_concurrent_rpcs=cfg.max_concurrent_rpcs,
        services=[(DELIVERY_SERVICE, model_updates_handler(updates))],
    )


def with_port(
    config: BackendConfig, ingest_port: int, api_port: int | None = None
) -> BackendConfig:
    """A copy of ``config`` listening on other ports."""
    api = config.api if api_port is None else replace(config.api, port=api_port)
    return replace(config, ingest=replace(config.ingest, port=ingest_port), api=api)


def build_api(backend: Backend) -> FastAPI:
    """The HTTP API of ``backend`` (imported here: only processes that serve HTTP load FastAPI)."""
    from backend.api.app import create_app
    from backend.api.deps import ApiServices

    services = ApiServices(
        db=backend.db,
        people=backend.people,
        blobs=backend.blobs,
        annotation=backend.annotation,
        config=backend.config,
        release=backend.release,
        safety=backend.safety,
        training=backend.training,
        ops=OpsService(
            backend.db, DatasetVersions(backend.db, backend.blobs, backend.clock), backend.clock
        ),
        active=backend.active,
    )
    return create_app(services, max_body_bytes=backend.config.api.max_body_bytes)


def background_jobs(backend: Backend) -> list[Periodic]:
    """The jobs a serving process runs beside its servers (not started): turning stored frames
    into tasks and expiring leases, delivering webhook events, judging the active rollout
    campaign (promotion or rollback as its canary's health says), re-scoring the pending tasks
    with each new champion (``[active]``, woken by promotions), and with ``[training]
    auto_trigger`` the retraining trigger (a turn when its policy fires)."""
    import httpx

    from backend.webhooks.dispatcher import Dispatcher

    annotation = backend.annotation
    jobs = [
        Periodic(
            "webhooks",
            backend.config.webhooks.dispatch_interval_s,
            Dispatcher(
                backend.db, backend.config.webhooks, httpx.Client(), utcnow, random.Random()
            ).run_once,
        ),
        Periodic(
            "rollout",
            backend.config.release.evaluate_interval_s,
            backend.release.rollout.evaluate_active,
        ),
    ]
    if backend.config.annotation.enabled:

        def sync() -> None:
            annotation.builder.sync()
            annotation.queue.expire()

        jobs.append(Periodic("annotation", backend.config.annotation.sync_interval_s, sync))
    if backend.config.active.enabled and backend.config.annotation.enabled:
        jobs.append(
            Periodic(
                "active-learning",
                backend.config.active.interval_s,
                backend.active.tick,
                wake=backend.active.wake,
            )
        )
    if backend.config.training.auto_trigger:
        jobs.append(
            Periodic(
                "retrain-trigger", backend.config.training.trigger_check_s, backend.training.tick
            )
        )
    return jobs
