"""When to retrain: new accepted labels (a count, or a share of a slice), a schedule, or an
explicit request. Pure decision logic: the caller supplies the label counts and the clock
(``backend.training.scheduler`` counts them from the database and runs the turns).

A *slice* is whatever the caller counts labels by (a class such as ``stroller``, a condition
such as ``rain``). ``slice_share`` fires when the labels accepted since the last run make up at
least that share of all the slice's accepted labels (the slice changed a lot), provided the
slice has at least ``slice_min_new`` new labels (a share of almost nothing is noise).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from backend.errors import TrainingError


@dataclass(frozen=True)
class TriggerPolicy:
    """The thresholds; ``None`` switches a rule off."""

    min_new_labels: int | None = 200  #: accepted labels (boxes) since the last run, all slices
    slice_share: float | None = 0.5  #: new / all accepted labels of one slice
    slice_min_new: int = 20  #: new labels a slice needs before its share counts
    interval: timedelta | None = None  #: retrain at least this often when anything is new

    def __post_init__(self) -> None:
        if self.min_new_labels is not None and self.min_new_labels < 1:
            raise TrainingError(f"trigger: min_new_labels must be >= 1, got {self.min_new_labels}")
        if self.slice_share is not None and not 0.0 < self.slice_share <= 1.0:
            raise TrainingError(f"trigger: slice_share must be in (0, 1], got {self.slice_share}")
        if self.slice_min_new < 1:
            raise TrainingError(f"trigger: slice_min_new must be >= 1, got {self.slice_min_new}")
        if self.interval is not None and self.interval <= timedelta(0):
            raise TrainingError(f"trigger: interval must be positive, got {self.interval}")


@dataclass(frozen=True)
class LabelStats:
    """Accepted labels per slice: since the last run (``new``) and in all (``total``, which
    includes the new ones)."""

    new: Mapping[str, int] = field(default_factory=dict)
    total: Mapping[str, int] = field(default_factory=dict)

    def new_count(self) -> int:
        return sum(self.new.values())


@dataclass(frozen=True)
class RuleCheck:
    """One rule of the policy on the stats now: the figure it reads (``value``: new labels;
    a slice's share of new labels; seconds since the schedule was due, negative before), its
    threshold, whether it fires, and the reason it gives when it does. ``slice`` names the
    slice of a ``slice_share`` check."""

    rule: str  #: min_new_labels | slice_share | schedule
    value: float
    threshold: float
    fires: bool
    reason: str
    slice: str | None = None


@dataclass(frozen=True)
class TriggerDecision:
    """Whether a run is due now, why, and when the schedule next makes one due."""

    due: bool
    reasons: tuple[str, ...]
    next_due: datetime | None
    checks: tuple[RuleCheck, ...] = ()


class RetrainTrigger:
    """Evaluates a ``TriggerPolicy`` with an injectable ``clock`` (timezone-aware datetimes)."""

    def __init__(self, policy: TriggerPolicy, clock: Callable[[], datetime]) -> None:
        self.policy = policy
        self._clock = clock

    def next_due(self, last_run: datetime | None) -> datetime | None:
        """When the schedule is next due: ``last_run + interval`` (now if never run)."""
        if self.policy.interval is None:
            return None
        return self._clock() if last_run is None else last_run + self.policy.interval

    def checks(self, stats: LabelStats, last_run: datetime | None) -> tuple[RuleCheck, ...]:
        """Every rule that is on, on ``stats`` now: the count, the share of each slice with
        at least ``slice_min_new`` new labels, and the schedule (only while something is new)."""
        p, now = self.policy, self._clock()
        out: list[RuleCheck] = []
        new = stats.new_count()
        if p.min_new_labels is not None:
            out.append(
                RuleCheck(
                    "min_new_labels",
                    float(new),
                    float(p.min_new_labels),
                    new >= p.min_new_labels,
                    f"{new} new labels >= {p.min_new_labels}",
                )
            )
        if p.slice_share is not None:
            for name in sorted(stats.new):
                fresh, total = stats.new[name], stats.total.get(name, 0)
                if fresh < p.slice_min_new:
                    continue
                share = fresh / max(total, fresh)
                out.append(
                    RuleCheck(
                        "slice_share",
                        share,
                        p.slice_share,
                        share >= p.slice_share,
                        f"slice {name}: {fresh}/{max(total, fresh)} new ({share:.2f})",
                        name,
                    )
                )
        next_due = self.next_due(last_run)
        if next_due is not None and new > 0:
            out.append(
                RuleCheck(
                    "schedule",
                    (now - next_due).total_seconds(),
                    0.0,
                    now >= next_due,
                    f"schedule: due since {next_due.isoformat()}",
                )
            )
        return tuple(out)

    def evaluate(
        self, stats: LabelStats, last_run: datetime | None, *, requested: bool = False
    ) -> TriggerDecision:
        """The decision now, given the labels since ``last_run`` (None: never ran)."""
        checks = self.checks(stats, last_run)
        reasons = (["requested"] if requested else []) + [c.reason for c in checks if c.fires]
        return TriggerDecision(bool(reasons), tuple(reasons), self.next_due(last_run), checks)
