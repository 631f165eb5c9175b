"""Model release: the gate a candidate must pass, the registry of signed model versions and their
rollout to the fleet.

::

    gate       GateConfig (per-slice floors, no-regression on the paired difference's bound)
               -> GateVerdict
    evidence   every number behind a verdict as an evidence row; admin-only, recorded bypass
    signing    Ed25519 key file (outside the repository) -> Signer
    registry   ModelRegistry: pack, sign, store (blob first, row second), aliases, promotion
    health     HealthLimits and the numbers a canary is judged by (pure)
    rollout    RolloutService: canary campaigns, assignments, health reports, promote/rollback
    types      Assignment and HealthReport: what the vehicle-facing service exchanges
    delivery   the ``longtail.v1.ModelUpdates`` gRPC service on the ingest server (assignment,
               resumable download, health reports) over an ``UpdateSource``

The archive format, its digest and signature check are shared with the vehicle
(``core.formats.model_archive``).
"""
