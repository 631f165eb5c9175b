"""``run_crowd``: the simulated crowd labels what a running server holds, through its HTTP API.

1. The admin turns every stored frame into a task (``POST /tasks/sync``), seeds gold tasks from
   the simulator's truth (``POST /gold``; the first ``calibration_frames`` are the calibration
   set every new labeller does first) and creates the people (``POST /people``).
2. Every person works in their own thread (``simulators.crowd.workers``): annotators label,
   reviewers review (hidden gold reviews included), the senior adjudicates escalations and
   reviews when nothing is escalated.
3. The run ends when every person is idle and nothing waits in the annotate (non-gold), review
   or adjudicate queues, or when nobody has made progress for ``stall_s`` seconds while all are
   idle (tasks nobody left may take: an overlap task whose remaining annotators were flagged, or
   the ``max_tasks`` budget spent). The server's ``/qa/report`` at the end comes with the run.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tqdm import tqdm

from simulators.crowd.client import ApiClient
from simulators.crowd.errors import CrowdError
from simulators.crowd.labelling import FrameWork, LabelledBox
from simulators.crowd.profiles import Profile, default_crowd
from simulators.crowd.truth import FrameTruth, TruthSource
from simulators.crowd.wire import labels_body
from simulators.crowd.workers import Coordinator, Tally, Worker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PersonRun:
    """One person's share of a run: tasks finished (annotations, reviews or adjudications),
    boxes drawn or checked, simulated working hours, review or adjudication decisions, saves
    that met a newer version (409, redone), leases lost (409), and whether gold flagged them."""

    name: str
    role: str
    tasks: int
    boxes: int
    simulated_hours: float
    decisions: dict[str, int]
    stale_saves: int
    lost_leases: int
    flagged: bool

    @property
    def boxes_per_hour(self) -> float:
        return self.boxes / self.simulated_hours if self.simulated_hours > 0 else math.nan

    @classmethod
    def of(cls, tally: Tally) -> PersonRun:
        return cls(
            name=tally.name,
            role=tally.role,
            tasks=tally.tasks,
            boxes=tally.boxes,
            simulated_hours=tally.simulated_s / 3600.0,
            decisions=dict(tally.decisions),
            stale_saves=tally.stale_saves,
            lost_leases=tally.lost_leases,
            flagged=tally.flagged,
        )


@dataclass(frozen=True)
class CrowdRun:
    """What the crowd did: per person, the wall time, the gold it seeded, the tasks still
    waiting at the end (0 when the queue was emptied) and the server's QA report then."""

    people: tuple[PersonRun, ...]
    wall_s: float
    gold_tasks: int
    calibration_tasks: int
    pending_tasks: int
    qa: dict[str, Any]

    def person(self, name: str) -> PersonRun:
        for p in self.people:
            if p.name == name:
                return p
        raise CrowdError(f"nobody named {name!r} in this run")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> list[str]:
        """One line per person: role, tasks, boxes, simulated hours, boxes per simulated hour,
        gold accuracy (from the QA report) and the flag."""
        gold = {p["name"]: p for p in self.qa.get("people", [])}
        lines = [
            f"{'person':16} {'role':9} {'tasks':>5} {'boxes':>6} {'sim h':>6} "
            f"{'boxes/h':>7} {'gold acc':>8}  state"
        ]
        for p in self.people:
            acc = gold.get(p.name, {}).get("gold_accuracy")
            state = gold.get(p.name, {}).get("calibration", "")
            lines.append(
                f"{p.name:16} {p.role:9} {p.tasks:5d} {p.boxes:6d} {p.simulated_hours:6.2f} "
                f"{p.boxes_per_hour:7.0f} {'' if acc is None else f'{acc:8.2f}':>8}  "
                f"{'FLAGGED' if p.flagged or state == 'flagged' else state if p.role == 'annotator' else ''}"
            )
        return lines


def truth_labels(frame: dict[str, Any], truth: FrameTruth) -> dict[str, Any]:
    """The known answer of a stored frame as API labels (points only where the counts agree)."""
    boxes = tuple(
        LabelledBox(o.track_id, o.class_name, o.box, i) for i, o in enumerate(truth.objects)
    )
    points = truth.points if frame["num_points"] == truth.num_points else None
    return labels_body([(frame["id"], FrameWork(boxes, points))])


def seed_gold(
    admin: ApiClient,
    frames: Sequence[dict[str, Any]],
    truth: TruthSource,
    *,
    share: float,
    calibration: int,
    seed: int,
) -> tuple[int, int]:
    """Gold tasks over a ``share`` of ``frames`` (at least ``calibration`` of them), the first
    ``calibration`` marked as the calibration set; returns (gold tasks, calibration tasks)."""
    count = min(len(frames), max(calibration, round(share * len(frames))))
    chosen = random.Random(seed).sample(list(frames), count)
    for i, frame in enumerate(chosen):
        known = truth(frame)
        assert known is not None  # run_crowd checked every frame
        admin.create_gold([frame["id"]], truth_labels(frame, known), calibration=i < calibration)
    return count, min(calibration, count)


def _pending(admin: ApiClient) -> int:
    return (
        admin.count_tasks(stage="annotate", gold=False)
        + admin.count_tasks(stage="review")
        + admin.count_tasks(stage="adjudicate")
    )


def run_crowd(
    api: str,
    admin_token: str,
    truth: TruthSource,
    profiles: Sequence[Profile] | None = None,
    *,
    seed: int,
    max_tasks: int | None = None,
    progress: bool = False,
    gold_share: float = 0.2,
    calibration_frames: int = 3,
    poll_s: float = 0.05,
    stall_s: float = 3.0,
) -> CrowdRun:
    """Run the crowd ``profiles`` (``default_crowd()`` if None) against the server at ``api``
    (see the module docstring); ``max_tasks`` caps the annotations handed out. Gold: a
    ``gold_share`` of the stored frames, ``calibration_frames`` of them the calibration set
    (match the server's ``annotation.calibration_tasks``; 0 with a server that has none)."""
    crowd = list(default_crowd() if profiles is None else profiles)
    names = [p.name for p in crowd]
    if len(set(names)) != len(names):
        raise CrowdError(f"crowd members need distinct names, got {names}")
    started = time.monotonic()
    with ApiClient(api, admin_token) as admin:
        admin.sync()
        frames = admin.frames()
        unknown = [f for f in frames if truth(f) is None]
        if unknown:
            raise CrowdError(
                f"{len(unknown)} of {len(frames)} stored frames are unknown to the truth source "
                f"(first: {unknown[0]['id']}, captured_at_ns {unknown[0]['captured_at_ns']})"
            )
        gold, calibration = seed_gold(
            admin, frames, truth, share=gold_share, calibration=calibration_frames, seed=seed
        )
        tokens = {p.name: admin.create_person(p.name, p.role) for p in crowd}
        coord = Coordinator(max_tasks, poll_s)
        workers = [Worker(p, ApiClient(api, tokens[p.name]), truth, coord, seed) for p in crowd]
        threads = [
            threading.Thread(target=w.run, name=f"crowd-{w.profile.name}", daemon=True)
            for w in workers
        ]
        for t in threads:
            t.start()
        pending = _watch(admin, coord, threads, set(names), stall_s, progress)
        coord.stop.set()
        for t in threads:
            t.join(timeout=120)
        failed = [w.tally for w in workers if w.tally.error is not None]
        if failed:
            raise CrowdError(
                "crowd members stopped on unexpected answers: "
                + "; ".join(f"{t.name}: {t.error}" for t in failed)
            )
        qa = admin.qa_report()
    run = CrowdRun(
        people=tuple(PersonRun.of(w.tally) for w in workers),
        wall_s=time.monotonic() - started,
        gold_tasks=gold,
        calibration_tasks=calibration,
        pending_tasks=pending,
        qa=qa,
    )
    log.info(
        "crowd done in %.1f s: %d tasks finished, %d waiting",
        run.wall_s,
        sum(p.tasks for p in run.people),
        pending,
    )
    return run


def _watch(
    admin: ApiClient,
    coord: Coordinator,
    threads: Sequence[threading.Thread],
    names: set[str],
    stall_s: float,
    progress: bool,
) -> int:
    """Wait for the end of the run (module docstring); returns the tasks still waiting."""
    seen = coord.progress
    still_since = time.monotonic()
    pending = -1
    with tqdm(desc="crowd", unit="task", disable=not progress) as bar:
        while any(t.is_alive() for t in threads):
            time.sleep(coord.poll_s * 2)
            if coord.progress != seen:
                bar.update(coord.progress - seen)
                seen = coord.progress
                still_since = time.monotonic()
                continue
            if not coord.all_idle(names):
                continue
            pending = _pending(admin)
            if pending == 0 or time.monotonic() - still_since > stall_s:
                break
    return _pending(admin) if pending != 0 else 0
