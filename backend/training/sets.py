"""Training sets: the frames of dataset versions plus replay of earlier training data, split by
group (drive or event, never by frame), class-balanced, written in the on-disk dataset layout.

::

    OUT/<digest>/manifest.json             what the set holds; its SHA-256 is <digest>
    OUT/<digest>/<split>/<group>/...       one dataset directory (core.formats.dataset) per group

Building:

1. every frame of every source is listed (identity, points digest, group, labels); a frame whose
   identity or points digest is in ``forbidden`` (``backend.evaluation.suite.suite_digests``)
   refuses the whole build before anything is written, naming the frame and the suite;
2. all frames of the new sources are taken; replay frames are drawn (seeded) from the replay
   sources so that they make up ``replay_share`` of the set's frames;
3. groups are split into train and val in the order of a seeded hash of their key, per source
   kind, so that val holds up to ``val_share`` of the frames (``split_groups``); a group is
   never divided;
4. weak sources (machine-labelled frames, ``backend.training.weak``) extend the training split
   only: their frames are drawn (seeded) up to ``weak_share`` of the training split, never go to
   validation (a model is judged on people's labels) and are counted per class in the summary
   (``weak_objects``); their group directories are marked weak in ``meta.json``, so a later set
   replaying them reads them as weak again, never as ground truth. A frame that a human-labelled
   source also offers is taken from that source;
5. train frames holding a ``focus_classes`` object (the new edge cases) are repeated so that they
   make up at least ``focus_share`` of the training samples (at most ``max_repeat`` times); the
   frame is written once, its repeat count is in the manifest;
6. the manifest is canonical JSON (``backend.datasets.manifest.canonical_json``); if
   ``OUT/<digest>`` already holds it, nothing is written (idempotent by digest); otherwise the
   set is written into a sibling temporary directory and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import tempfile
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import numpy as np

from backend.datasets.manifest import canonical_json
from backend.errors import SuiteLeakError, TrainingError
from backend.evaluation.suite import WEAK_LABELS_KEY, points_digest
from backend.training.sources import FrameSource, SourceFrame, count_points
from core.classes import RARE_CLASSES
from core.formats.dataset import DatasetWriter, FrameLabels

log = logging.getLogger(__name__)

FORMAT: Final = "longtail.training-set/1"
MANIFEST_FILE: Final = "manifest.json"
SPLITS: Final = ("train", "val")


@dataclass(frozen=True)
class SetConfig:
    """How a training set samples and splits (shares are fractions of frames)."""

    seed: int = 0
    replay_share: float = 0.5  #: share of the set's frames drawn from replay sources
    val_share: float = 0.2  #: share of each kind's frames (new, replay) held out for validation
    focus_classes: tuple[str, ...] = RARE_CLASSES  #: the edge cases whose frames are oversampled
    focus_share: float = 0.3  #: least share of training samples from frames with a focus class
    max_repeat: int = 8  #: most times one frame is repeated
    weak_share: float = 0.5  #: most share of the training split's frames from weak sources

    def __post_init__(self) -> None:
        for name in ("replay_share", "val_share", "focus_share", "weak_share"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise TrainingError(f"training set: {name} must be in [0, 1), got {value}")
        if self.max_repeat < 1:
            raise TrainingError(f"training set: max_repeat must be >= 1, got {self.max_repeat}")


@dataclass(frozen=True)
class TrainingSet:
    """A built training set: its directory, digest and manifest (see the module docstring)."""

    path: Path
    digest: str
    manifest: dict[str, Any] = field(repr=False)

    @classmethod
    def open(cls, path: str | Path) -> TrainingSet:
        """Read the set at ``path`` and check its manifest against the directory's name."""
        root = Path(path)
        try:
            data = (root / MANIFEST_FILE).read_bytes()
        except OSError as exc:
            raise TrainingError(f"{root}: not a training set ({exc.strerror})") from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != root.name:
            raise TrainingError(f"{root}: manifest hashes to {digest}, not the directory's name")
        return cls(root, digest, json.loads(data))

    def groups(self, split: str) -> list[dict[str, Any]]:
        return [g for g in self.manifest["groups"] if g["split"] == split]

    def dirs(self, split: str) -> list[Path]:
        """The dataset directories of ``split`` (``train`` or ``val``)."""
        return [self.path / g["dir"] for g in self.groups(split)]

    def repeats(self, group_dir: Path) -> dict[int, int]:
        """Repeat count of each frame index of one group directory."""
        rel = group_dir.relative_to(self.path).as_posix()
        group = next(g for g in self.manifest["groups"] if g["dir"] == rel)
        return {f["index"]: f["repeat"] for f in group["frames"]}

    def object_counts(self, split: str = "train") -> dict[str, int]:
        """Labelled objects per class in ``split`` (each frame once, whatever its repeat)."""
        return dict(self.manifest["summary"]["objects"][split])

    def weak_objects(self) -> dict[str, int]:
        """Weakly-labelled objects per class (all in the training split)."""
        return dict(self.manifest["summary"]["weak_objects"])


def _with_points_digest(source: FrameSource, frame: SourceFrame) -> SourceFrame:
    if frame.points_sha256 is not None:
        return frame
    return replace(frame, points_sha256=points_digest(source.points(frame)))


def _check_forbidden(frame: SourceFrame, forbidden: Collection[str], suite: str) -> None:
    for digest in (frame.id, frame.points_sha256):
        if digest in forbidden:
            raise SuiteLeakError(
                f"frame {frame.id} of {frame.source} (group {frame.group}, points digest "
                f"{frame.points_sha256}) belongs to {suite}; a suite frame can never enter a "
                "training set"
            )


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def split_groups(sizes: dict[str, int], val_share: float, seed: int) -> dict[str, str]:
    """``train`` or ``val`` for each group (``sizes``: frames per group). In seeded-hash order,
    a group goes to val when val stays within ``val_share`` of the frames with it; with two or
    more groups and a positive share, val gets at least the smallest group if none fitted, and
    train keeps at least one group. A group is never divided."""
    order = sorted(sizes, key=lambda k: _rank(seed, k))
    out = dict.fromkeys(order, "train")
    if val_share <= 0 or len(order) < 2:
        return out
    target = val_share * sum(sizes.values())
    held = 0
    for key in order:
        if held + sizes[key] <= target and len(order) - list(out.values()).count("val") > 1:
            out[key] = "val"
            held += sizes[key]
    if held == 0:
        out[min(order, key=lambda k: sizes[k])] = "val"
    return out


def focus_repeat(n_focus: int, n_other: int, share: float, max_repeat: int) -> int:
    """Repeat count r of focus frames so that ``r n_focus / (r n_focus + n_other) >= share``."""
    if n_focus == 0 or n_other == 0 or share <= 0:
        return 1
    need = share * n_other / ((1.0 - share) * n_focus)
    return int(min(max(math.ceil(need - 1e-9), 1), max_repeat))


def _pick_replay(pool: list[SourceFrame], n_new: int, config: SetConfig) -> list[SourceFrame]:
    if not pool or config.replay_share <= 0:
        return []
    if n_new == 0:
        return pool
    want = round(config.replay_share / (1.0 - config.replay_share) * n_new)
    if want >= len(pool):
        return pool
    rng = np.random.default_rng(config.seed)
    rows = np.sort(rng.permutation(len(pool))[:want])
    return [pool[i] for i in rows]


def _pick_weak(pool: list[SourceFrame], n_other: int, config: SetConfig) -> list[SourceFrame]:
    if not pool or config.weak_share <= 0:
        return []
    want = math.floor(config.weak_share / (1.0 - config.weak_share) * n_other)
    if want >= len(pool):
        return pool
    rng = np.random.default_rng([config.seed, 1])
    rows = np.sort(rng.permutation(len(pool))[:want])
    return [pool[i] for i in rows]


def plan_set(
    new: Sequence[FrameSource],
    replay: Sequence[FrameSource],
    config: SetConfig,
    *,
    weak: Sequence[FrameSource] = (),
    forbidden: Collection[str] = frozenset(),
    suite: str = "the edge-case suite",
) -> tuple[dict[str, Any], dict[str, tuple[FrameSource, SourceFrame]]]:
    """The manifest of the set and, by frame id, where each frame comes from (nothing written)."""
    offered: dict[int, list[SourceFrame]] = {}
    for s in (*new, *replay, *weak):
        offered[id(s)] = [_with_points_digest(s, f) for f in s.frames()]
        for f in offered[id(s)]:
            _check_forbidden(f, forbidden, suite)
    new_frames = [(s, f) for s in new for f in offered[id(s)]]
    pool = [(s, f) for s in replay for f in offered[id(s)]]
    if not new_frames and not pool:
        raise TrainingError(
            "training set: the sources hold no labelled frame"
            + (" (weak labels only extend a set of human-labelled frames)" if weak else "")
        )
    picked_ids = {f.id for f in _pick_replay([f for _, f in pool], len(new_frames), config)}
    chosen: dict[str, tuple[FrameSource, SourceFrame]] = {}
    for s, f in [*new_frames, *[(s, f) for s, f in pool if f.id in picked_ids]]:
        chosen.setdefault(f.id, (s, f))  # a frame offered twice is taken once
    kind = {f.id: ("new" if any(s is n for n in new) else "replay") for s, f in chosen.values()}
    by_group: dict[str, list[SourceFrame]] = {}
    for _, f in chosen.values():
        by_group.setdefault(f.group, []).append(f)
    split: dict[str, str] = {}
    for k in ("new", "replay"):
        sizes = {g: len(fs) for g, fs in by_group.items() if kind[fs[0].id] == k}
        split.update(split_groups(sizes, config.val_share, config.seed))
    if "val" not in split.values():
        # each kind held one group (one event, one replayed drive): validate across kinds
        sizes = {g: len(fs) for g, fs in by_group.items()}
        split = split_groups(sizes, config.val_share, config.seed)
    # weak frames extend the training split only, up to weak_share of it
    n_train = sum(len(fs) for g, fs in by_group.items() if split[g] == "train")
    weak_pool = [f for s in weak for f in offered[id(s)] if f.id not in chosen]
    weak_source = {f.id: s for s in weak for f in offered[id(s)]}
    for f in _pick_weak(weak_pool, n_train, config):
        if f.id in chosen:  # one frame offered by two weak sources
            continue
        chosen[f.id] = (weak_source[f.id], f)
        kind[f.id] = "weak"
        by_group.setdefault(f.group, []).append(f)
        split[f.group] = "train"
    focus = set(config.focus_classes)
    has_focus = {f.id: any(o.class_name in focus for o in f.objects) for _, f in chosen.values()}
    train_ids = [f.id for _, f in chosen.values() if split[f.group] == "train"]
    n_focus = sum(has_focus[i] for i in train_ids)
    repeat = focus_repeat(n_focus, len(train_ids) - n_focus, config.focus_share, config.max_repeat)
    groups, objects = [], {s: Counter[str]() for s in SPLITS}
    weak_objects: Counter[str] = Counter()
    for n, key in enumerate(sorted(by_group, key=lambda g: (split[g], g))):
        frames = sorted(by_group[key], key=lambda f: (f.time_ns, f.id))
        rows = []
        for index, f in enumerate(frames):
            objects[split[key]].update(o.class_name for o in f.objects)
            if kind[f.id] == "weak":
                weak_objects.update(o.class_name for o in f.objects)
            rows.append(
                {
                    "index": index,
                    "id": f.id,
                    "points_sha256": f.points_sha256,
                    "labels_sha256": f.labels_sha256,
                    "classes": dict(sorted(Counter(o.class_name for o in f.objects).items())),
                    "repeat": repeat if split[key] == "train" and has_focus[f.id] else 1,
                }
            )
        groups.append(
            {
                "key": key,
                "dir": f"{split[key]}/{n:04d}",
                "split": split[key],
                "kind": kind[frames[0].id],
                "source": frames[0].source,
                "frames": rows,
            }
        )
    manifest = {
        "format": FORMAT,
        "config": asdict(config),
        "sources": [
            {"name": s.name, "digest": s.digest, "kind": k, "offered": len(offered[id(s)])}
            for k, ss in (("new", new), ("replay", replay), ("weak", weak))
            for s in ss
        ],
        "groups": groups,
        "summary": {
            "frames": {s: sum(len(g["frames"]) for g in groups if g["split"] == s) for s in SPLITS},
            "replay_frames": sum(1 for v in kind.values() if v == "replay"),
            "weak_frames": sum(1 for v in kind.values() if v == "weak"),
            "weak_objects": dict(sorted(weak_objects.items())),
            "focus_frames_train": n_focus,
            "focus_repeat": repeat,
            "objects": {s: dict(sorted(objects[s].items())) for s in SPLITS},
        },
    }
    return manifest, chosen


def build_set(
    out: str | Path,
    new: Sequence[FrameSource],
    replay: Sequence[FrameSource] = (),
    config: SetConfig = SetConfig(),
    *,
    weak: Sequence[FrameSource] = (),
    forbidden: Collection[str] = frozenset(),
    suite: str = "the edge-case suite",
) -> TrainingSet:
    """Build (or find) the training set of ``new``, ``replay`` and ``weak`` under ``out``."""
    manifest, chosen = plan_set(new, replay, config, weak=weak, forbidden=forbidden, suite=suite)
    data = canonical_json(manifest)
    digest = hashlib.sha256(data).hexdigest()
    root = Path(out) / digest
    if (root / MANIFEST_FILE).is_file():
        log.info("training set %s exists; nothing written", digest)
        return TrainingSet.open(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}.", dir=root.parent))
    try:
        for group in manifest["groups"]:
            writer = DatasetWriter(tmp / group["dir"])
            for row in group["frames"]:
                source, frame = chosen[row["id"]]
                points = source.points(frame)
                objects = count_points(points, frame.objects)
                writer.write_frame(
                    points, FrameLabels(row["index"], frame.time_ns, (0.0,) * 6, objects)
                )
            meta: dict[str, Any] = {
                "training_set": digest,
                "group": group["key"],
                "source": group["source"],
                "frames": len(group["frames"]),
            }
            if group["kind"] == "weak":  # read back as weak, never as ground truth
                meta[WEAK_LABELS_KEY] = {"training_set": digest, "source": group["source"]}
            writer.write_meta(meta)
        (tmp / MANIFEST_FILE).write_bytes(data)
        tmp.chmod(0o755)
        try:
            tmp.rename(root)
        except OSError:  # a concurrent build of the same content won: same bytes
            if not (root / MANIFEST_FILE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("training set %s: %s", digest, manifest["summary"])
    return TrainingSet.open(root)
