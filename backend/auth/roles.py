"""Roles and the permissions they hold: the one table every route is checked against.

=================  ===========================================================================
role               may
=================  ===========================================================================
annotator          label tasks handed to them; read the ontology and their own figures
reviewer           what an annotator may, and review other people's labels; read team figures
senior             what a reviewer may, and adjudicate (overlap disagreements, escalations);
                   read the audit log, dataset versions, model versions, rollouts,
                   release-gate evidence and the queue's active-learning priorities
admin              everything but signing off a release: people, tokens, ontology, tasks, gold,
                   datasets, exports, webhooks, model rollouts (start, promote, roll back); the
                   only role that may bypass a failed release gate (recorded as evidence)
safety_engineer    read figures, the audit log, frames, dataset versions and exports, model
                   versions, rollouts, the release-gate verdicts with their evidence and the
                   safety case; the only role that signs off a release (recorded); no labelling
=================  ===========================================================================

Reading the safety case (its statuses, SPIs, snapshots, SOTIF view and release reports) takes
``read_evidence``: it is made of the gate's evidence. Signing off is kept from admins on purpose:
the role that may bypass a failed gate must not also be the one that signs the release.
"""

from __future__ import annotations

import enum
from typing import Final


class Role(enum.StrEnum):
    """A person's role."""

    ANNOTATOR = "annotator"
    REVIEWER = "reviewer"
    SENIOR = "senior"
    ADMIN = "admin"
    SAFETY_ENGINEER = "safety_engineer"


class Permission(enum.StrEnum):
    """What a route requires."""

    LABEL = "label"
    REVIEW = "review"
    ADJUDICATE = "adjudicate"
    READ_OWN_FIGURES = "read_own_figures"
    READ_TEAM_FIGURES = "read_team_figures"
    READ_AUDIT = "read_audit"
    READ_FRAMES = "read_frames"
    READ_DATASETS = "read_datasets"
    READ_QUEUE = "read_queue"
    MANAGE_PEOPLE = "manage_people"
    MANAGE_ONTOLOGY = "manage_ontology"
    MANAGE_TASKS = "manage_tasks"
    MANAGE_DATASETS = "manage_datasets"
    MANAGE_WEBHOOKS = "manage_webhooks"
    READ_RELEASES = "read_releases"
    MANAGE_RELEASES = "manage_releases"
    READ_EVIDENCE = "read_evidence"
    BYPASS_GATE = "bypass_gate"
    SIGN_OFF_RELEASE = "sign_off_release"


_LABELLER = frozenset({Permission.LABEL, Permission.READ_OWN_FIGURES})
_REVIEWER = _LABELLER | {Permission.REVIEW, Permission.READ_TEAM_FIGURES}
_SENIOR = _REVIEWER | {Permission.ADJUDICATE, Permission.READ_AUDIT, Permission.READ_DATASETS}

PERMISSIONS: Final[dict[Role, frozenset[Permission]]] = {
    Role.ANNOTATOR: _LABELLER,
    Role.REVIEWER: _REVIEWER,
    Role.SENIOR: _SENIOR
    | {
        Permission.READ_FRAMES,
        Permission.READ_RELEASES,
        Permission.READ_EVIDENCE,
        Permission.READ_QUEUE,
    },
    Role.ADMIN: frozenset(Permission) - {Permission.SIGN_OFF_RELEASE},
    Role.SAFETY_ENGINEER: frozenset(
        {
            Permission.READ_OWN_FIGURES,
            Permission.READ_TEAM_FIGURES,
            Permission.READ_AUDIT,
            Permission.READ_FRAMES,
            Permission.READ_DATASETS,
            Permission.READ_RELEASES,
            Permission.READ_EVIDENCE,
            Permission.SIGN_OFF_RELEASE,
        }
    ),
}

#: roles whose people label and so go through calibration first
LABELLING_ROLES: Final = frozenset({Role.ANNOTATOR, Role.REVIEWER, Role.SENIOR})


def allows(role: Role, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission``."""
    return permission in PERMISSIONS[role]
