"""Trigger rules: a named expression with a firing mode, a minimum interval and a priority."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from core.config import config_error
from core.errors import ConfigError
from core.expr import Expression, ExpressionError

Mode = Literal["level", "edge"]


@dataclass(frozen=True)
class RuleSpec:
    """A rule as written in the config.

    ``mode`` "level" fires on every frame where ``when`` holds, "edge" only on a false→true change.
    ``min_interval_s`` is the least time between two firings (seconds of capture time);
    ``priority`` orders frames for the budget, the spool and the uploader (higher first).
    """

    name: str
    when: str
    mode: Mode = "level"
    min_interval_s: float = 0.0
    priority: float = 1.0


class Rule:
    """A compiled rule with its own firing state (last value, last firing time)."""

    def __init__(self, spec: RuleSpec, known_signals: frozenset[str]) -> None:
        if spec.mode not in ("level", "edge"):
            raise ConfigError(
                f"rule {spec.name!r}: mode must be 'level' or 'edge', got {spec.mode!r}"
            )
        if not math.isfinite(spec.min_interval_s) or spec.min_interval_s < 0:
            raise ConfigError(
                f"rule {spec.name!r}: min_interval_s must be >= 0, got {spec.min_interval_s}"
            )
        try:
            self.expression = Expression.compile(spec.when, known_signals)
        except ExpressionError as exc:
            raise ExpressionError(f"rule {spec.name!r}: {exc.reason}", exc.column) from exc
        self.spec = spec
        self._was_true = False
        self._last_fired_s: float | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def check(self, signals: Mapping[str, float], now_s: float) -> bool:
        """Evaluate on one frame captured at ``now_s`` (seconds) and update the firing state."""
        holds = self.expression(signals)
        rising = holds and not self._was_true
        self._was_true = holds
        if not holds or (self.spec.mode == "edge" and not rising):
            return False
        last = self._last_fired_s
        if last is not None and now_s - last < self.spec.min_interval_s:
            return False
        self._last_fired_s = now_s
        return True

    def would_fire(self, signals: Mapping[str, float]) -> bool:
        """Whether the expression holds, ignoring mode and interval (offline scoring)."""
        return self.expression(signals)


def compile_rules(specs: Sequence[RuleSpec], known_signals: frozenset[str]) -> list[Rule]:
    """Compile every rule; refuse duplicates and reserved names with the rule's name.

    Every rule is compiled before anything is refused, so one error lists the problems of all
    rules (``ConfigError.problems``, each located as ``selection.rules[i]``); a single problem is
    raised as itself (an ExpressionError keeps its column)."""
    seen: set[str] = set()
    rules = []
    problems: list[ConfigError] = []
    for i, spec in enumerate(specs):
        where = f"selection.rules[{i}]"
        if not spec.name or spec.name in seen:
            problems.append(ConfigError(f"{where}: rule name {spec.name!r} is empty or duplicated"))
            continue
        if spec.name in RESERVED_RULE_NAMES:
            problems.append(ConfigError(f"{where}: rule name {spec.name!r} is reserved"))
            continue
        seen.add(spec.name)
        try:
            rules.append(Rule(spec, known_signals))
        except ExpressionError as exc:
            problems.append(ExpressionError(f"{where}: {exc.reason}", exc.column))
        except ConfigError as exc:
            problems.append(ConfigError(f"{where}: {exc}"))
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise config_error([str(p) for p in problems])
    return rules


#: Rule names the selector itself uses when it records why a frame was kept.
MANUAL_RULE = "manual"
SAMPLE_RULE = "random_sample"
CONTEXT_PREFIX = "context:"
RESERVED_RULE_NAMES = frozenset({MANUAL_RULE, SAMPLE_RULE})
