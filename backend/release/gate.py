"""The release gate: a candidate ships only if every configured slice holds, not just the average.

The gate is data, a TOML file (``backend/release/gate.toml`` is the shipped default)::

    [data]
    min_label_agreement = 0.67   # the training data's agreement (e.g. Krippendorff's alpha)
    max_drift = 0.5              # optional: without it drift is reported, never gated

    [[rule]]
    slice = "class:*"            # a slice name or a glob over slice names
    metric = "recall"            # a figure of backend.evaluation.slice_metrics (or a glob)
    floor = 0.2                  # optional absolute floor (``ceiling`` for fp_per_frame, ece)
    floor_on = "value"           # "value" (point estimate, default) or "lower" (lower bound)
    delta = 0.05                 # optional: no regression beyond delta
    required = false             # fail when no slice matches (default: true for exact names)

**No regression** uses the lower confidence bound of the *paired difference* candidate -
champion: it passes when ``diff_lo >= -delta`` (``diff_hi <= +delta`` where lower is better).
Why the paired difference and not the candidate's own lower bound against the champion's value:
both models are scored on the same resampled frames, so the frame-to-frame variance they share
cancels and the interval measures what changed; a candidate's marginal interval on ~100 frames is
about +-0.1 wide for a recall, and ``candidate_lo >= champion - delta`` would fail even a
candidate identical to the champion whenever delta is smaller than that width.

A check's ``margin`` is signed so that >= 0 passes: value - floor, ceiling - value,
diff_lo + delta, delta - diff_hi, agreement - threshold, max_drift - drift.
"""

from __future__ import annotations

import fnmatch
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from backend.evaluation.bootstrap import Estimate
from backend.evaluation.compare import Comparison
from backend.evaluation.drift import DriftReport
from backend.evaluation.slice_metrics import MetricRow, higher_is_better
from core.config import config_error
from core.errors import ConfigError

#: the gate shipped with the backend
DEFAULT_GATE_FILE = Path(__file__).resolve().parent / "gate.toml"
_RULE_KEYS = {"slice", "metric", "floor", "ceiling", "floor_on", "delta", "required"}
_DATA_KEYS = {"min_label_agreement", "max_drift"}


@dataclass(frozen=True)
class Rule:
    """One rule of the gate (module docstring)."""

    slice: str
    metric: str
    floor: float | None = None
    ceiling: float | None = None
    floor_on: str = "value"
    delta: float | None = None
    required: bool = True


@dataclass(frozen=True)
class GateConfig:
    """The whole gate: slice rules and data gates."""

    rules: tuple[Rule, ...]
    min_label_agreement: float | None = None
    max_drift: float | None = None
    source: str = "<memory>"


def _number(problems: list[str], where: str, table: Mapping[str, Any], key: str) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(f"{where}.{key}: must be a finite number, got {value!r}")
        return None
    return float(value)


def parse_gate(data: Mapping[str, Any], source: str) -> GateConfig:
    """Validate the parsed TOML of a gate; ConfigError lists every problem with its key."""
    problems: list[str] = []
    unknown = sorted(set(data) - {"data", "rule"})
    if unknown:
        problems.append(f"{source}: unknown key(s) {unknown}; allowed: data, rule")
    data_table = data.get("data", {})
    if not isinstance(data_table, dict):
        problems.append(f"{source}: data must be a table")
        data_table = {}
    for key in sorted(set(data_table) - _DATA_KEYS):
        problems.append(f"{source}: data.{key}: unknown; allowed: {sorted(_DATA_KEYS)}")
    rules: list[Rule] = []
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list) or not raw_rules:
        problems.append(f"{source}: rule: needs at least one [[rule]] table")
        raw_rules = []
    for i, raw in enumerate(raw_rules):
        where = f"{source}: rule[{i}]"
        if not isinstance(raw, dict):
            problems.append(f"{where}: must be a table")
            continue
        for key in sorted(set(raw) - _RULE_KEYS):
            problems.append(f"{where}.{key}: unknown; allowed: {sorted(_RULE_KEYS)}")
        slice_name, metric = raw.get("slice"), raw.get("metric")
        if not isinstance(slice_name, str) or not slice_name:
            problems.append(f"{where}.slice: must be a slice name or glob, got {slice_name!r}")
            continue
        if not isinstance(metric, str) or not metric:
            problems.append(f"{where}.metric: must be a metric name, got {metric!r}")
            continue
        floor = _number(problems, where, raw, "floor")
        ceiling = _number(problems, where, raw, "ceiling")
        delta = _number(problems, where, raw, "delta")
        if higher_is_better(metric) and ceiling is not None:
            problems.append(f"{where}.ceiling: {metric} is better higher; use floor")
        if not higher_is_better(metric) and floor is not None:
            problems.append(f"{where}.floor: {metric} is better lower; use ceiling")
        if delta is not None and delta < 0:
            problems.append(f"{where}.delta: must be >= 0, got {delta}")
        floor_on = raw.get("floor_on", "value")
        if floor_on not in ("value", "lower"):
            problems.append(f"{where}.floor_on: must be 'value' or 'lower', got {floor_on!r}")
        if floor is None and ceiling is None and delta is None:
            problems.append(f"{where}: gates nothing; give floor/ceiling and/or delta")
        required = raw.get("required", not any(ch in slice_name for ch in "*?["))
        if not isinstance(required, bool):
            problems.append(f"{where}.required: must be true or false, got {required!r}")
            required = True
        rules.append(Rule(slice_name, metric, floor, ceiling, str(floor_on), delta, required))
    agreement = _number(problems, f"{source}: data", data_table, "min_label_agreement")
    drift = _number(problems, f"{source}: data", data_table, "max_drift")
    if problems:
        raise config_error(problems)
    return GateConfig(tuple(rules), agreement, drift, source)


def load_gate(path: str | os.PathLike[str] = DEFAULT_GATE_FILE) -> GateConfig:
    """Read and validate a gate file (ConfigError naming the file and every bad key)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read gate file: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    return parse_gate(data, p.name)


@dataclass(frozen=True)
class Check:
    """One number behind a verdict: what was compared with what, and by how much it passed."""

    kind: str  #: floor | ceiling | no_regression | label_agreement | drift | missing
    slice: str
    metric: str
    value: float
    lo: float
    hi: float
    threshold: float
    margin: float
    passed: bool
    gated: bool = True  #: False: reported only (drift without max_drift)

    def describe(self) -> str:
        what = f"{self.slice} {self.metric}" if self.slice else self.metric
        interval = "" if math.isnan(self.lo) else f" [{self.lo:.3f}, {self.hi:.3f}]"
        verdict = "ok" if self.passed else "FAILED"
        return (
            f"{verdict:6s} {self.kind:14s} {what}: {self.value:.3f}{interval} vs "
            f"{self.threshold:.3f} (margin {self.margin:+.3f})"
        )


@dataclass(frozen=True)
class GateVerdict:
    """The gate's answer for one candidate against one champion on one suite."""

    passed: bool
    checks: tuple[Check, ...]
    candidate_version: str
    champion_version: str
    suite_version: str
    dataset_digest: str
    #: every figure of the comparison judged: champion's and candidate's own per slice
    figures: tuple[MetricRow, ...] = ()

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.gated and not c.passed)

    @property
    def failed_slices(self) -> list[str]:
        """Slices with at least one failed check, in check order (data gates as ``data``)."""
        return list(dict.fromkeys(c.slice or "data" for c in self.failures))

    def summary(self) -> str:
        judged = (
            f"champion {self.champion_version} alone"
            if self.candidate_version == self.champion_version
            else f"candidate {self.candidate_version} vs champion {self.champion_version}"
        )
        head = (
            f"gate {'PASSED' if self.passed else 'FAILED'}: {judged} on suite "
            f"{self.suite_version[:12]}, {len(self.checks)} checks, {len(self.failures)} failed"
        )
        if self.failures:
            head += f" (slices: {', '.join(self.failed_slices)})"
        lines = [head]
        lines += ["  " + c.describe() for c in self.failures]
        lines += ["  " + c.describe() for c in self.checks if not c.gated]
        return "\n".join(lines)


def _checks_of_rule(rule: Rule, comparison: Comparison) -> list[Check]:
    rows = [
        r
        for r in comparison.rows
        if fnmatch.fnmatchcase(r.metric, rule.metric) and fnmatch.fnmatchcase(r.slice, rule.slice)
    ]
    if not rows:
        if not rule.required:
            return []
        nan = math.nan
        return [Check("missing", rule.slice, rule.metric, nan, nan, nan, nan, nan, False)]
    out: list[Check] = []
    for row in rows:
        cand, diff = row.candidate, row.difference
        better_high = higher_is_better(row.metric)
        if rule.floor is not None:
            v = cand.lo if rule.floor_on == "lower" else cand.value
            margin = v - rule.floor
            out.append(
                Check(
                    "floor",
                    row.slice,
                    row.metric,
                    cand.value,
                    cand.lo,
                    cand.hi,
                    rule.floor,
                    margin,
                    margin >= 0,
                )
            )
        if rule.ceiling is not None:
            margin = rule.ceiling - cand.value
            out.append(
                Check(
                    "ceiling",
                    row.slice,
                    row.metric,
                    cand.value,
                    cand.lo,
                    cand.hi,
                    rule.ceiling,
                    margin,
                    margin >= 0,
                )
            )
        if rule.delta is not None:
            if better_high:
                threshold, margin = -rule.delta, diff.lo + rule.delta
            else:
                threshold, margin = rule.delta, rule.delta - diff.hi
            out.append(
                Check(
                    "no_regression",
                    row.slice,
                    row.metric,
                    diff.value,
                    diff.lo,
                    diff.hi,
                    threshold,
                    margin,
                    margin >= 0,
                )
            )
    return out  # a NaN margin compares False: an undefined figure fails


def evaluate_gate(
    gate: GateConfig,
    comparison: Comparison,
    *,
    dataset_digest: str,
    label_agreement: float | None,
    drift: DriftReport | None = None,
) -> GateVerdict:
    """Apply ``gate`` to a comparison. ``label_agreement`` is the training data's agreement
    (from its dataset version's QA; None = unknown, which fails a configured threshold);
    ``drift`` of the suite against the fleet is reported, and gated only with ``max_drift``."""
    checks: list[Check] = []
    for rule in gate.rules:
        checks += _checks_of_rule(rule, comparison)
    nan = math.nan
    if gate.min_label_agreement is not None:
        value = nan if label_agreement is None else float(label_agreement)
        margin = value - gate.min_label_agreement
        checks.append(
            Check(
                "label_agreement",
                "",
                "label_agreement",
                value,
                nan,
                nan,
                gate.min_label_agreement,
                margin,
                margin >= 0,
            )
        )
    if drift is not None:
        limit = nan if gate.max_drift is None else gate.max_drift
        for stat, value in drift.per_statistic.items():
            margin = limit - value
            checks.append(
                Check(
                    "drift",
                    "",
                    f"drift:{stat}",
                    value,
                    nan,
                    nan,
                    limit,
                    margin,
                    gate.max_drift is None or margin >= 0,
                    gated=gate.max_drift is not None,
                )
            )
    passed = all(c.passed for c in checks if c.gated)
    return GateVerdict(
        passed,
        tuple(checks),
        comparison.candidate_version,
        comparison.champion_version,
        comparison.suite_version,
        dataset_digest,
        comparison.rows,
    )


def assess_champion(
    gate: GateConfig, comparison: Comparison, *, dataset_digest: str
) -> GateVerdict:
    """The champion judged alone on the same suite by the gate's absolute limits.

    The fleet's model faces every new suite too: its floors and ceilings are checked on the
    champion's own figures of the comparison (no new evaluation). No-regression and the data
    gates are left out -- they judge a candidate against its predecessor and its training
    labels -- and the verdict keeps no figures (its checks hold the champion's). Such a verdict
    has ``candidate_version == champion_version``, which is how readers tell it from a loop's.
    """
    nan = Estimate(math.nan, math.nan, math.nan)
    alone = replace(
        comparison,
        candidate_version=comparison.champion_version,
        candidate_classes=comparison.champion_classes,
        rows=tuple(replace(r, candidate=r.champion, difference=nan) for r in comparison.rows),
    )
    limits = replace(
        gate,
        rules=tuple(
            replace(r, delta=None)
            for r in gate.rules
            if r.floor is not None or r.ceiling is not None
        ),
        min_label_agreement=None,
        max_drift=None,
    )
    verdict = evaluate_gate(limits, alone, dataset_digest=dataset_digest, label_agreement=None)
    return replace(verdict, figures=())
