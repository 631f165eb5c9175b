"""The release stage's services of one process, as ``backend.wiring`` assembles them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from backend.config import ReleaseConfig
from backend.metadata.unit_of_work import Database
from backend.release.health import HealthLimits
from backend.release.registry import ModelRegistry, PromotionHook
from backend.release.rollout import RolloutService
from backend.release.signing import Signer, load_signer
from backend.storage.base import BlobStore


@dataclass(frozen=True)
class ReleaseServices:
    """The registry, rollouts, the signer and the configured campaign defaults."""

    registry: ModelRegistry
    rollout: RolloutService
    signer: Signer
    config: ReleaseConfig

    def default_limits(self) -> HealthLimits:
        """The health limits of ``[release]`` (a campaign may state its own)."""
        c = self.config
        return HealthLimits(
            max_error_rate=c.max_error_rate,
            max_trigger_rate_ratio=c.max_trigger_rate_ratio,
            max_latency_p99_ms=c.max_latency_p99_ms,
            max_score_shift=c.max_score_shift,
            max_refusals=float(c.max_refusals),
        )


def build_release(
    db: Database,
    blobs: BlobStore,
    config: ReleaseConfig,
    clock: Callable[[], datetime],
    *,
    signer: Signer | None = None,
    on_promote: Sequence[PromotionHook] = (),
) -> ReleaseServices:
    """The release services over one database and blob store; the signer is loaded from (or,
    with ``generate_key``, created in) ``signing_key_path`` unless one is passed; ``on_promote``
    hooks run in every promotion's transaction (``backend.wiring`` passes the safety stage's)."""
    key = signer or load_signer(Path(config.signing_key_path), create=config.generate_key)
    registry = ModelRegistry(db, blobs, key, clock, on_promote=on_promote)
    return ReleaseServices(registry, RolloutService(db, registry, clock), key, config)
