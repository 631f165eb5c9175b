"""How a canary is judged: the health limits (data), the figures of a set of health reports, and
the checks that compare the canary's figures with the fleet's (pure; no database).

Figures of a set of interval reports: counts are summed; the error rate and trigger rate are per
frame; latency p99 and the score mean / p95 are the frame-weighted means of the reports' values
(percentiles do not add up exactly across vehicles; weighting by frames keeps a short interval
from deciding alone).

The checks, each with its measured value and its limit:

* ``error_rate``          canary errors per frame                         <= max_error_rate
* ``latency_p99_ms``      canary per-frame latency p99 (ms)               <= max_latency_p99_ms
* ``trigger_rate_ratio``  canary triggers per frame / the fleet's         <= max_trigger_rate_ratio
* ``score_shift``         largest relative change of score mean and p95   <= max_score_shift
  versus the fleet: max(|c - f| / max(|f|, 1e-9)) over the two
* ``refusals``            packages of the candidate the canary vehicles   <= max_refusals
                          refused (tampered, unsigned, another key, would not load); always
                          measured, 0 by default: one refusal rolls the campaign back

A refusal counts as an error of the canary, but not in the per-frame error rate: a vehicle that
refused the candidate never ran it, so it has no frames to divide by, and one refusal against a
thousand frames of other canary vehicles (0.1 %) must not pass for healthy.

The fleet reference is the champion's reports (see ``backend.release.rollout``); without one the
two relative checks are unmeasured, and a campaign is promoted only when every check was
measured and passed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from backend.errors import InvalidInputError
from backend.metadata.repositories.rollouts import ReportRecord
from backend.release.types import HealthReport

#: the floor of a relative change's denominator (a fleet score of exactly zero)
_EPS = 1e-9
#: largest count a report may carry (BIGINT)
_COUNT_MAX = 2**63 - 1


@dataclass(frozen=True)
class HealthLimits:
    """The limits a canary must stay inside (see the module docstring for each check)."""

    max_error_rate: float = 0.01
    max_trigger_rate_ratio: float = 3.0
    max_latency_p99_ms: float = 250.0
    max_score_shift: float = 0.5
    max_refusals: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise InvalidInputError(
                    f"health limit {f.name} must be finite and >= 0, got {value!r}"
                )

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, float]) -> HealthLimits:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(f"unknown health limits {unknown}; known: {sorted(known)}")
        return cls(**{k: float(v) for k, v in data.items()})


def check_report(report: HealthReport) -> HealthReport:
    """``report`` if its counts are non-negative integers and its figures finite and >= 0
    (InvalidInputError naming the field otherwise)."""
    for name in ("frames", "triggers", "errors"):
        value = getattr(report, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _COUNT_MAX:
            raise InvalidInputError(f"health report {name} must be a count >= 0, got {value!r}")
    for name in ("latency_ms_p50", "latency_ms_p99", "score_mean", "score_p95"):
        value = getattr(report, name)
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise InvalidInputError(f"health report {name} must be finite and >= 0, got {value!r}")
    return report


@dataclass(frozen=True)
class HealthFigures:
    """The combined figures of a set of reports (see the module docstring)."""

    reports: int
    vehicles: int
    frames: int
    triggers: int
    errors: int
    error_rate: float | None
    trigger_rate: float | None
    latency_ms_p99: float | None
    score_mean: float | None
    score_p95: float | None
    refusals: int = 0

    @classmethod
    def of(cls, reports: Sequence[ReportRecord], refusals: int = 0) -> HealthFigures:
        """The figures of ``reports`` and of ``refusals`` packages refused."""
        frames = sum(r.frames for r in reports)
        triggers = sum(r.triggers for r in reports)
        errors = sum(r.errors for r in reports)

        def weighted(name: str) -> float | None:
            if frames == 0:
                return None
            return float(sum(float(getattr(r, name)) * r.frames for r in reports) / frames)

        return cls(
            reports=len(reports),
            vehicles=len({r.vehicle for r in reports}),
            frames=frames,
            triggers=triggers,
            errors=errors,
            # errors with no frame processed at all: every attempt failed
            error_rate=errors / frames if frames else (math.inf if errors else None),
            trigger_rate=triggers / frames if frames else None,
            latency_ms_p99=weighted("latency_ms_p99"),
            score_mean=weighted("score_mean"),
            score_p95=weighted("score_p95"),
            refusals=refusals,
        )

    def as_dict(self) -> dict[str, Any]:
        return {k: _json_number(v) for k, v in asdict(self).items()}


def _json_number(value: Any) -> Any:
    return "inf" if isinstance(value, float) and math.isinf(value) else value


@dataclass(frozen=True)
class Check:
    """One limit: the measured value (None: not measurable yet), the limit, whether it holds."""

    name: str
    value: float | None
    limit: float
    passed: bool | None

    def describe(self) -> str:
        if self.value is None:
            return f"{self.name} not measurable yet (limit {self.limit:g})"
        verdict = "within" if self.passed else "ABOVE"
        return f"{self.name} {self.value:.4g} {verdict} limit {self.limit:g}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _json_number(self.value),
            "limit": self.limit,
            "passed": self.passed,
        }


def _check(name: str, value: float | None, limit: float) -> Check:
    return Check(name, value, limit, None if value is None else value <= limit)


def _relative(canary: float | None, fleet: float | None) -> float | None:
    if canary is None or fleet is None:
        return None
    return abs(canary - fleet) / max(abs(fleet), _EPS)


def judge(canary: HealthFigures, fleet: HealthFigures, limits: HealthLimits) -> list[Check]:
    """The five checks of the canary against the fleet reference and the limits."""
    ratio: float | None = None
    if canary.trigger_rate is not None and fleet.trigger_rate is not None:
        if fleet.trigger_rate > 0:
            ratio = canary.trigger_rate / fleet.trigger_rate
        else:  # the fleet never triggered: any canary trigger is an unbounded rise
            ratio = math.inf if canary.trigger_rate > 0 else 1.0
    shifts = [
        s
        for s in (
            _relative(canary.score_mean, fleet.score_mean),
            _relative(canary.score_p95, fleet.score_p95),
        )
        if s is not None
    ]
    return [
        _check("error_rate", canary.error_rate, limits.max_error_rate),
        _check("latency_p99_ms", canary.latency_ms_p99, limits.max_latency_p99_ms),
        _check("trigger_rate_ratio", ratio, limits.max_trigger_rate_ratio),
        _check("score_shift", max(shifts) if len(shifts) == 2 else None, limits.max_score_shift),
        _check("refusals", float(canary.refusals), limits.max_refusals),
    ]
