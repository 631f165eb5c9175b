"""The metadata schema (SQLAlchemy 2, typed ``Mapped[]``), one module per area; migrations in
``backend/metadata/migrations/versions``. Importing this package registers every table on
``Base.metadata`` (what Alembic and the schema test compare against).

| module | tables |
| --- | --- |
| ``fleet`` | vehicles, frames, detections |
| ``people`` | users, api_tokens |
| ``annotation`` | ontologies, tasks, task_frames, triage, routing_decisions, assignments, label_sets, label_revisions, reviews, gold_scores, class_votes, audit_events, task_scores |
| ``datasets`` | dataset_versions |
| ``webhooks`` | webhooks, webhook_deliveries |
| ``release`` | model_versions, model_aliases, rollout_campaigns, vehicle_model_reports, model_refusals |
| ``evidence`` | gate_verdicts, evidence |
| ``safety`` | safety_snapshots, safety_signoffs |
| ``training`` | training_runs |
"""

from backend.metadata.models import (
    annotation,
    datasets,
    evidence,
    fleet,
    people,
    release,
    safety,
    training,
    webhooks,
)
from backend.metadata.models.base import Base
from backend.metadata.models.fleet import Detection, Frame, Vehicle

__all__ = [
    "Base",
    "Detection",
    "Frame",
    "Vehicle",
    "annotation",
    "datasets",
    "evidence",
    "fleet",
    "people",
    "release",
    "safety",
    "training",
    "webhooks",
]
