"""The selector: which frames to keep, with what priority, and why.

Per frame, in order:

1. every configured rule is checked (mode, minimum interval), plus the manual trigger and a small
   random sample for unbiased monitoring;
2. a triggered frame (not manual, not the sample) too similar to one kept recently, or whose
   trigger lies where a recently kept frame's trigger lay (``PlaceFilter``, one upload per
   event), is suppressed;
3. a triggered frame spends one token of the frames-per-hour budget (low priorities may not use
   the reserve); the manual trigger bypasses the budget — a person asked for it;
4. a kept frame (not a sample) brings its pre-trigger context from a small ring buffer and opens
   a post-trigger window; context frames are kept every ``stride``-th frame, at a lower priority.

The bytes-per-day budget is spent by the caller once the frame is encoded (its size is known only
then), through ``SelectionBudget.try_bytes``.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from agent.selection.budget import SelectionBudget
from agent.selection.dedup import NearDuplicateFilter, PlaceFilter
from agent.selection.manual import ManualTrigger
from agent.selection.rules import CONTEXT_PREFIX, MANUAL_RULE, SAMPLE_RULE, Rule

T = TypeVar("T")

#: Priority of a manual request: above any sensible rule priority.
MANUAL_PRIORITY = 100.0
#: Context frames rank this much below their trigger frame.
CONTEXT_PRIORITY_DROP = 1.0


@dataclass(frozen=True)
class WindowSpec:
    """Pre/post-trigger context: ``pre_frames`` and ``post_frames`` kept frames, one every
    ``stride`` source frames (stride 2 at 10 Hz keeps 5 Hz of context)."""

    pre_frames: int = 0
    post_frames: int = 0
    stride: int = 1


@dataclass(frozen=True)
class Selection(Generic[T]):
    """One frame to keep. ``rules_fired`` is never empty (context frames say ``context:<rule>``)."""

    item: T
    rules_fired: tuple[str, ...]
    priority: float
    is_context: bool = False


@dataclass
class Decision(Generic[T]):
    """The outcome for one offered frame: what to keep now (context first) and, when a triggered
    frame was not kept, why (``"duplicate"`` or ``"budget"``)."""

    fired: tuple[str, ...]
    selections: list[Selection[T]] = field(default_factory=list)
    suppressed: str | None = None


class Selector(Generic[T]):
    """Stateful per-vehicle selection. Not thread-safe: call from the pipeline thread only."""

    def __init__(
        self,
        rules: Sequence[Rule],
        budget: SelectionBudget,
        dedup: NearDuplicateFilter,
        manual: ManualTrigger,
        *,
        window: WindowSpec = WindowSpec(),
        sample_rate: float = 0.0,
        sample_priority: float = 0.5,
        rng: random.Random,
        places: PlaceFilter | None = None,
    ) -> None:
        self.rules = list(rules)
        self.budget = budget
        self.dedup = dedup
        self.places = places if places is not None else PlaceFilter(0.0, 0.0)
        self.manual = manual
        self.window = window
        self.sample_rate = sample_rate
        self.sample_priority = sample_priority
        self._rng = rng
        self._ring: deque[T] = deque(maxlen=max(1, window.pre_frames * window.stride))
        self._post_left = 0
        self._post_counter = 0
        self._post_rule = ""
        self._post_priority = 0.0

    def offer(
        self,
        item: T,
        signals: Mapping[str, float],
        now_s: float,
        *,
        embedding: npt.NDArray[np.float32] | None = None,
        frame_score: float = 0.0,
        place: tuple[float, float] | None = None,
    ) -> Decision[T]:
        """Decide about one frame captured at ``now_s`` (seconds); ``frame_score`` in [0, 1]
        breaks ties between frames fired by rules of equal priority; ``place`` is where its
        trigger lies (world x, y, metres; None when unknown)."""
        fired = [rule for rule in self.rules if rule.check(signals, now_s)]
        names = [rule.name for rule in fired]
        manual = self.manual.poll()
        if manual:
            names.append(MANUAL_RULE)
        # the draw happens on every frame so the sample does not depend on what else fired
        sampled = self.sample_rate > 0 and self._rng.random() < self.sample_rate
        if sampled:
            names.append(SAMPLE_RULE)
        decision: Decision[T] = Decision(tuple(names))
        if not names:
            self._context_or_ring(item, decision)
            return decision

        priority = max((r.spec.priority for r in fired), default=self.sample_priority)
        if math.isfinite(frame_score):  # a NaN would poison every priority comparison after it
            priority += min(max(frame_score, 0.0), 1.0)
        if manual:
            priority = max(priority, MANUAL_PRIORITY)
        elif fired:
            if self.dedup.is_duplicate(embedding, now_s) or self.places.is_duplicate(place, now_s):
                decision.suppressed = "duplicate"
            elif not self.budget.try_frame(priority):
                decision.suppressed = "budget"
            if decision.suppressed and not sampled:
                self._context_or_ring(item, decision)
                return decision
            if decision.suppressed:
                # the rules lost, but the unbiased sample still keeps the frame on its own ticket
                names = [SAMPLE_RULE]
                priority = self.sample_priority
        self.dedup.remember(embedding, now_s)
        if fired and not manual:
            self.places.remember(place, now_s)

        # context shows annotators a triggered object over time; a monitoring sample needs none
        with_context = names != [SAMPLE_RULE]
        if with_context:
            decision.selections.extend(self._drain_ring(names[0], priority))
        decision.selections.append(Selection(item, tuple(names), priority))
        if self.window.post_frames and with_context:
            self._post_left = self.window.post_frames
            self._post_counter = 0
            self._post_rule = names[0]
            self._post_priority = priority - CONTEXT_PRIORITY_DROP
        return decision

    def _drain_ring(self, rule: str, priority: float) -> list[Selection[T]]:
        if not self.window.pre_frames:
            return []
        frames = list(self._ring)
        self._ring.clear()
        # the frames closest to the trigger matter most: count strides back from the newest
        kept = frames[::-1][self.window.stride - 1 :: self.window.stride][: self.window.pre_frames]
        context = (CONTEXT_PREFIX + rule,)
        return [
            Selection(f, context, priority - CONTEXT_PRIORITY_DROP, is_context=True)
            for f in reversed(kept)
        ]

    def _context_or_ring(self, item: T, decision: Decision[T]) -> None:
        if self._post_left > 0:
            self._post_counter += 1
            if self._post_counter % self.window.stride == 0:
                self._post_left -= 1
                decision.selections.append(
                    Selection(
                        item,
                        (CONTEXT_PREFIX + self._post_rule,),
                        self._post_priority,
                        is_context=True,
                    )
                )
                return
        if self.window.pre_frames:
            self._ring.append(item)
