"""``longtail-agent check-config``: everything ``run`` would refuse at start-up, found in one pass.

The checks, in the order a reader fixes them, each problem located in the file (or the
environment variable that set the option):

1. options: names, types, limits, the token, cross-field rules (``agent.config``);
2. the model: ``perception.factory`` builds the analyzer (package, scoring statistics);
3. the source: a recorded drive opens (``source.path``), a ``factory`` imports and builds;
4. the trigger rules, all of them, against the signals of that model and source.

Later checks run on the configuration as built even when earlier ones failed (a refused option
is replaced by its default), so a typo in a rule shows up together with a missing token.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agent.config import AgentConfig, collect_config
from agent.daemon.analysis import Analyzer
from agent.daemon.app import build_analyzer, build_selector, build_source
from agent.daemon.pipeline import schema_for
from agent.daemon.sources import REPLAY_SIGNALS
from agent.errors import AgentError
from agent.selection.manual import ManualTrigger
from core.errors import ConfigError, CoreError
from core.expr import names_in, parse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckReport:
    """What ``check_config`` found: every problem (``"location: message"``), notes on what
    could not be checked because of an earlier problem, and the number of rules compiled."""

    problems: tuple[str, ...]
    notes: tuple[str, ...]
    rules: int

    @property
    def ok(self) -> bool:
        return not self.problems


def check_config(path: Path, environ: Mapping[str, str] | None = None) -> CheckReport:
    """Run every check on the config file ``path`` (see the module docstring).

    An unreadable or invalid TOML file raises ConfigError (nothing else can be checked)."""
    config, option_problems = collect_config(path, environ)
    # the loader locates what it finds in the file or environment; cross-field ones get the file
    problems = [
        p if p.startswith((f"{path}: ", "environment ")) or "(environment " in p else f"{path}: {p}"
        for p in option_problems
    ]
    notes: list[str] = []
    located = _Locator(str(path))

    analyzer: Analyzer | None = None
    try:
        analyzer = build_analyzer(config)
    except (AgentError, CoreError) as exc:
        problems.extend(located(exc, "perception"))

    source_signals: tuple[str, ...] | None = None
    try:
        source = build_source(config, lambda _seconds: False)
    except (AgentError, CoreError) as exc:
        problems.extend(located(exc, "source"))
    else:
        source_signals = tuple(source.vehicle_signal_names)
        source.close()

    compiled = 0
    if analyzer is None:
        notes.append("selection.rules: not checked, because the model did not load")
    else:
        if source_signals is None:
            # the source's signals are unknown: accept any vehicle.* name the rules use
            source_signals = (*REPLAY_SIGNALS, *_vehicle_names(config))
            notes.append("vehicle.* signals in rules: not checked, because the source did not open")
        try:
            build_selector(
                config.selection,
                schema_for(analyzer, source_signals, bool(config.selection.drivable_area_file)),
                time.monotonic,
                random.Random(0),
                ManualTrigger(None),
            )
            compiled = len(config.selection.rules)
        except ConfigError as exc:
            problems.extend(located(exc, "selection.rules"))
    return CheckReport(tuple(problems), tuple(notes), compiled)


class _Locator:
    """Locates a problem found after loading: the file, then the option or rule it is about
    (the loader's own problems are located already)."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __call__(self, exc: Exception, section: str) -> list[str]:
        messages = exc.problems if isinstance(exc, ConfigError) else (str(exc),)
        out = []
        for message in messages:
            if not message.startswith(section):
                message = f"{section}: {message}"
            out.append(f"{self.source}: {message}")
        return out


def _vehicle_names(config: AgentConfig) -> tuple[str, ...]:
    names: list[str] = []
    for rule in config.selection.rules:
        try:
            tree = parse(rule.when)
        except ConfigError:
            continue  # reported when the rules are compiled
        names += [
            r.name[len("vehicle.") :] for r in names_in(tree) if r.name.startswith("vehicle.")
        ]
    return tuple(names)
