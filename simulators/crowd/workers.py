"""One simulated person at work: a loop over the API that leases, labels or judges, and hands
back, the way the browser tool would (``/work/next`` -> read -> points -> save drafts ->
submit; ``review``; ``adjudicate``). Each person runs in their own thread with their own HTTP
client; what they did is counted in their :class:`Tally`, which only their thread writes.

Simulated time: a task takes ``seconds_per_task + seconds_per_box * boxes`` simulated seconds
(times a log-normal day-to-day factor); nobody sleeps for it. Real sleeps are only the short
polls of an empty queue.
"""

from __future__ import annotations

import logging
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulators.crowd.client import ApiClient
from simulators.crowd.errors import CrowdError, FlaggedError, LeaseLostError, StaleVersionError
from simulators.crowd.labelling import (
    FrameWork,
    f1_against_truth,
    fix_frame,
    judge_frame,
    label_frame,
    review,
)
from simulators.crowd.profiles import Profile
from simulators.crowd.truth import FrameTruth, TruthSource
from simulators.crowd.wire import boxes_by_frame, labels_body

log = logging.getLogger(__name__)

#: a returned task is redone with the errors scaled by this (the person read the comments)
AFTER_REJECTION = 0.5


@dataclass
class Tally:
    """What one person did (written by their thread only)."""

    name: str
    role: str
    tasks: int = 0
    boxes: int = 0
    simulated_s: float = 0.0
    decisions: dict[str, int] = field(default_factory=dict)
    stale_saves: int = 0
    lost_leases: int = 0
    flagged: bool = False
    error: str | None = None


class Coordinator:
    """What the threads share: the stop signal, who is idle, progress and the task budget."""

    def __init__(self, max_tasks: int | None, poll_s: float) -> None:
        self.stop = threading.Event()
        self.poll_s = poll_s
        self._lock = threading.Lock()
        self._idle: set[str] = set()
        self._max = max_tasks
        self._started = 0
        self.progress = 0

    def may_start(self) -> bool:
        """Take one annotation from the budget (False when it is spent)."""
        with self._lock:
            if self._max is not None and self._started >= self._max:
                return False
            self._started += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._started -= 1

    def idle(self, name: str, idle: bool) -> None:
        with self._lock:
            if idle:
                self._idle.add(name)
            else:
                self._idle.discard(name)

    def all_idle(self, names: set[str]) -> bool:
        with self._lock:
            return names <= self._idle

    def advanced(self) -> None:
        with self._lock:
            self.progress += 1


class Worker:
    """A person of the crowd: their profile, client, truth and tally."""

    def __init__(
        self,
        profile: Profile,
        client: ApiClient,
        truth: TruthSource,
        coordinator: Coordinator,
        seed: int,
    ) -> None:
        self.profile = profile
        self.client = client
        self.truth = truth
        self.coord = coordinator
        self.seed = seed
        self.tally = Tally(profile.name, profile.role)

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> None:
        """Work until told to stop, flagged, or an unexpected answer (kept in the tally)."""
        stages = {
            "annotator": ("annotate",),
            "reviewer": ("review",),
            "senior": ("adjudicate", "review"),
        }[self.profile.role]
        try:
            while not self.coord.stop.is_set():
                if not any(self._one(stage) for stage in stages):
                    self.coord.idle(self.profile.name, True)
                    self.coord.stop.wait(self.coord.poll_s)
        except FlaggedError:
            self.tally.flagged = True
            log.info(
                "%s was flagged by the gold checks after %d tasks",
                self.profile.name,
                self.tally.tasks,
            )
        except (CrowdError, ValueError, KeyError) as exc:
            self.tally.error = f"{type(exc).__name__}: {exc}"
            log.error("%s stopped: %s", self.profile.name, exc)
        finally:
            self.coord.idle(self.profile.name, True)
            self.client.close()

    def _one(self, stage: str) -> bool:
        """Lease and finish one task at ``stage``; False when nothing waits for this person."""
        if stage == "annotate" and not self.coord.may_start():
            return False
        lease = self.client.next(stage)
        if lease is None:
            if stage == "annotate":
                self.coord.give_back()
            return False
        self.coord.idle(self.profile.name, False)
        try:
            if stage == "annotate":
                self._annotate(lease)
            elif stage == "review":
                self._review(lease)
            else:
                self._adjudicate(lease)
        except LeaseLostError as exc:
            self.tally.lost_leases += 1
            log.info("%s lost a lease: %s", self.profile.name, exc.detail)
            if stage == "annotate":
                self.coord.give_back()
            return True
        self.coord.advanced()
        return True

    # -- helpers -------------------------------------------------------------------------------

    def _rng(self, lease: dict[str, Any], salt: int = 0) -> np.random.Generator:
        """A generator fixed by the seed, the person, the task and its round: the same crowd
        labels the same task the same way whatever the order the threads ran in."""
        person = zlib.crc32(self.profile.name.encode())
        return np.random.default_rng([self.seed, person, lease["task_id"], lease["round"], salt])

    def _truths(self, lease: dict[str, Any]) -> list[FrameTruth]:
        out = []
        for frame in lease["frames"]:
            found = self.truth(frame)
            if found is None:
                raise CrowdError(
                    f"task {lease['task_id']}: the truth source does not know frame "
                    f"{frame['id']} (captured_at_ns {frame['captured_at_ns']})"
                )
            out.append(found)
        return out

    def _spend(self, rng: np.random.Generator, boxes: int, share: float = 1.0) -> None:
        p = self.profile
        seconds = (p.seconds_per_task + p.seconds_per_box * boxes * share) * rng.lognormal(0, 0.2)
        self.tally.simulated_s += float(seconds)

    def _decided(self, decision: str) -> None:
        self.tally.decisions[decision] = self.tally.decisions.get(decision, 0) + 1
        self.tally.tasks += 1

    def _label(
        self,
        lease: dict[str, Any],
        truths: list[FrameTruth],
        profile: Profile,
        rng: np.random.Generator,
    ) -> list[tuple[str, FrameWork]]:
        works = []
        for frame, truth in zip(lease["frames"], truths, strict=True):
            xyz = None
            if truth.points is not None and frame["num_points"] == truth.num_points:
                xyz = self.client.points(lease["assignment_id"], frame["id"])[:, :3]
            works.append((frame["id"], label_frame(truth, xyz, profile, rng)))
        return works

    # -- annotators ----------------------------------------------------------------------------

    def _annotate(self, lease: dict[str, Any]) -> None:
        assignment = lease["assignment_id"]
        truths = self._truths(lease)
        rng = self._rng(lease)
        redo = bool(lease["reviews"])
        profile = self.profile.noisier(AFTER_REJECTION) if redo else self.profile
        works = self._label(lease, truths, profile, rng)
        version = int(lease["working"]["version"])
        half = [(f, FrameWork(w.boxes[: len(w.boxes) // 2], None)) for f, w in works]
        version = self._save(assignment, version, labels_body(half), draft=True)
        version = self._save(assignment, version, labels_body(works), draft=False)
        self.client.submit(assignment, version)
        boxes = sum(len(w.boxes) for _, w in works)
        self.tally.tasks += 1
        self.tally.boxes += boxes
        self._spend(rng, boxes)

    def _save(self, assignment: int, base: int, labels: dict[str, Any], *, draft: bool) -> int:
        """Save from ``base``; after a 409 with the current version, reload and save again
        over it (the person reapplies their edit to what is there now)."""
        try:
            return self.client.save(assignment, base, labels, draft=draft)
        except StaleVersionError as exc:
            self.tally.stale_saves += 1
            current = int(self.client.read(assignment)["working"]["version"])
            log.info(
                "%s: stale save (%s); saving over version %d",
                self.profile.name,
                exc.detail,
                current,
            )
            return self.client.save(assignment, current, labels, draft=draft)

    # -- reviewers -----------------------------------------------------------------------------

    def _review(self, lease: dict[str, Any]) -> None:
        assignment = lease["assignment_id"]
        working = lease["working"]
        if working is None:
            raise CrowdError(f"review of task {lease['task_id']}: no label set to review")
        truths = self._truths(lease)
        rng = self._rng(lease, salt=1)
        frame_ids = [f["id"] for f in lease["frames"]]
        sets = boxes_by_frame(working, frame_ids)
        judged = [
            judge_frame([b.class_name for b in sets[f][1]], [b.box for b in sets[f][1]], t)
            for f, t in zip(frame_ids, truths, strict=True)
        ]
        decision = review(judged, self.profile, rng)
        body: dict[str, Any] = {
            "decision": decision.decision,
            "reasons": decision.reasons,
            "box_verdicts": [
                {"box_id": sets[frame_ids[f]][0][k], "reasons": codes}
                for (f, k), codes in sorted(decision.box_reasons.items())
            ],
            "comment": f"{len(decision.box_reasons)} boxes and "
            f"{sum(len(v) for v in decision.noticed_missing.values())} missed objects to fix",
        }
        if decision.decision == "fix_accept":
            fixed = []
            for f, (frame_id, truth) in enumerate(zip(frame_ids, truths, strict=True)):
                boxes = fix_frame(
                    sets[frame_id][1],
                    judged[f],
                    [k for (ff, k) in decision.box_reasons if ff == f],
                    decision.noticed_missing.get(f, []),
                    truth,
                    self.profile,
                    rng,
                )
                fixed.append((frame_id, FrameWork(boxes, None)))
            labels = labels_body(fixed)
            labels["points"] = working["labels"]["points"]  # the fix leaves the points alone
            body["fixed"] = labels
        self.client.review(assignment, body)
        checked = sum(len(sets[f][1]) for f in frame_ids)
        self._decided(decision.decision)
        self.tally.boxes += checked
        self._spend(rng, checked, share=0.25)

    # -- the senior panel ------------------------------------------------------------------------

    def _adjudicate(self, lease: dict[str, Any]) -> None:
        assignment = lease["assignment_id"]
        truths = self._truths(lease)
        rng = self._rng(lease, salt=2)
        frame_ids = [f["id"] for f in lease["frames"]]
        candidates = [s for s in [lease["working"], *lease["others"]] if s is not None]
        scored = []
        for s in candidates:
            sets = boxes_by_frame(s, frame_ids)
            frames = [
                ([b.class_name for b in sets[f][1]], [b.box for b in sets[f][1]], t)
                for f, t in zip(frame_ids, truths, strict=True)
            ]
            scored.append((f1_against_truth(frames), s["id"]))
        best = max(scored, default=(0.0, None))
        boxes = sum(len(t.objects) for t in truths)
        if best[1] is not None and best[0] >= self.profile.accept_f1:
            self.client.adjudicate(
                assignment, {"accept_label_set": best[1], "comment": f"best F1 {best[0]:.2f}"}
            )
            self._decided("accept")
            self._spend(rng, boxes, share=0.25)
        else:
            works = self._label(lease, truths, self.profile, rng)
            body = {"fixed": labels_body(works), "comment": f"relabelled (best F1 {best[0]:.2f})"}
            self.client.adjudicate(assignment, body)
            self._decided("relabel")
            self._spend(rng, boxes)
        self.tally.boxes += boxes
