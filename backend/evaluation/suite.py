"""The edge-case suite: a versioned, held-out set of labelled frames, cut into slices.

A suite is built from labelled dataset directories (DESIGN.md layout: simulator drives made for
the suite, with seeds disjoint from every training plan, and exported QA'd labels) and stored as
one JSON manifest next to them::

    {"format": "longtail-edge-case-suite", "format_version": 1, "name": "edge-cases",
     "version": "<sha256 of the canonical content>",
     "locations": {"rain-911": "rain-911", ...},          # source -> dir, relative to the manifest
     "content": {
        "spec": {...},                                    # SliceSpec: bands, thresholds
        "sources": [{"name": "rain-911", "scenario": "rain", "seed": 911, "weather": "rain",
                     "beams": 64}, ...],
        "frames": [{"source": "rain-911", "index": 0, "digest": "<sha256 of the points>",
                    "labels_digest": "<sha256 of the canonical labels>",
                    "slices": ["all", "distance:0-20m", "weather:rain"],
                    "stats": {"num_points": 101234, "mean_range_m": 14.2, ...}}, ...]}}

The version is the SHA-256 of ``content`` serialised canonically (sorted keys, no spaces): the
same frames, labels and slice settings give the same version wherever the suite lives (paths are
kept out of it). A frame's digest is the SHA-256 of its points as little-endian float32 ``(N, 4)``
(x, y, z, intensity, sensor frame): the same bytes whatever file format held them.
``suite_digests`` is what a training-set build checks to refuse every suite frame. The other way
round, the build refuses weakly-labelled frames (machine-made labels, ``backend.training.weak``):
a source whose ``meta.json`` marks its labels weak, and any frame whose points digest is among
the ``refused`` digests it is given (the frames weak labelling wrote, wherever they sit now).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from backend.errors import EvaluationError
from backend.evaluation.drift import frame_statistics
from backend.evaluation.slices import FrameFacts, SliceSpec, facts_of, memberships
from core.errors import FormatError
from core.formats.atomic import atomic_write_bytes
from core.formats.dataset import Dataset, FrameLabels

log = logging.getLogger(__name__)

FORMAT = "longtail-edge-case-suite"
FORMAT_VERSION = 1
#: the manifest's file name when a directory is given
MANIFEST_FILE = "suite.json"
UNKNOWN = "unknown"
#: the ``meta.json`` key of a drive whose labels are weak (made by a machine, checked by no
#: person: ``backend.training.weak``): never suite frames, never ground truth for training
WEAK_LABELS_KEY = "weak_labels"


def canonical_json(value: Any) -> bytes:
    """``value`` as canonical JSON bytes: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def points_digest(points: npt.NDArray[np.float32]) -> str:
    """SHA-256 of the points as little-endian float32 ``(N, 4)`` bytes (the suite's frame id)."""
    array = np.ascontiguousarray(points[:, :4], dtype="<f4")
    return hashlib.sha256(array.tobytes()).hexdigest()


def labels_digest(labels: FrameLabels) -> str:
    """SHA-256 of the frame's labels in canonical JSON (boxes rounded as stored)."""
    return hashlib.sha256(canonical_json(labels.to_json())).hexdigest()


def content_version(content: dict[str, Any]) -> str:
    """The suite version: SHA-256 of the canonical ``content`` of a manifest."""
    return hashlib.sha256(canonical_json(content)).hexdigest()


@dataclass(frozen=True)
class SuiteSource:
    """One dataset directory of the suite and the conditions its ``meta.json`` states."""

    name: str
    scenario: str
    seed: int | None
    weather: str
    beams: int | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SuiteFrame:
    """One frame: where it lives, its digests, its slices and its simple statistics."""

    source: str
    index: int
    digest: str
    labels_digest: str
    slices: tuple[str, ...]
    stats: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "index": self.index,
            "digest": self.digest,
            "labels_digest": self.labels_digest,
            "slices": list(self.slices),
            "stats": self.stats,
        }


@dataclass(frozen=True)
class Suite:
    """A built or loaded suite; ``root`` is the folder its ``locations`` are relative to."""

    name: str
    spec: SliceSpec
    sources: tuple[SuiteSource, ...]
    frames: tuple[SuiteFrame, ...]
    locations: dict[str, str]
    root: Path

    def content(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_json(),
            "sources": [s.to_json() for s in self.sources],
            "frames": [f.to_json() for f in self.frames],
        }

    @property
    def version(self) -> str:
        return content_version(self.content())

    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "locations": dict(sorted(self.locations.items())),
            "content": self.content(),
        }

    def source(self, name: str) -> SuiteSource:
        for s in self.sources:
            if s.name == name:
                return s
        raise EvaluationError(f"suite {self.name!r} has no source {name!r}")

    def source_dir(self, name: str) -> Path:
        return self.root / self.locations[name]

    def slice_counts(self) -> dict[str, int]:
        """Frames per slice, every slice of the spec listed (0 when empty)."""
        counts = dict.fromkeys(self.spec.names(), 0)
        for f in self.frames:
            for s in f.slices:
                counts[s] += 1
        return counts

    def facts(self, frame: SuiteFrame, labels: FrameLabels) -> FrameFacts:
        """The slicing facts of ``frame`` given its labels."""
        src = self.source(frame.source)
        return facts_of(
            labels.class_names(),
            labels.boxes(),
            [o.num_points for o in labels.objects],
            src.weather,
            src.beams,
        )


def _source_of(name: str, meta: dict[str, Any]) -> SuiteSource:
    scenario = meta.get("scenario", {})
    weather = scenario.get("weather", UNKNOWN) if isinstance(scenario, dict) else UNKNOWN
    sensor = meta.get("sensor", {})
    beams = sensor.get("beams") if isinstance(sensor, dict) else None
    seed = meta.get("seed")
    return SuiteSource(
        name=name,
        scenario=str(meta.get("scenario_name", UNKNOWN)),
        seed=int(seed) if isinstance(seed, int) else None,
        weather=str(weather),
        beams=int(beams) if isinstance(beams, int) else None,
    )


def build_suite(
    data_dirs: Sequence[str | os.PathLike[str]],
    root: str | os.PathLike[str],
    *,
    name: str = "edge-cases",
    spec: SliceSpec | None = None,
    stride: int = 1,
    refused: Mapping[str, str] | None = None,
) -> Suite:
    """A suite of the labelled frames of ``data_dirs`` (every ``stride``-th labelled frame of
    each, so that near-identical neighbours do not count twice); ``root`` is the folder the
    manifest will live in (locations are stored relative to it). ``refused`` maps the points
    digests of frames that must never be suite frames (weakly-labelled ones) to where they are.

    Raises EvaluationError for a directory that is not a dataset, a weakly-labelled source, a
    refused frame, two sources with one name, one frame twice (same point digest), or a suite
    with no labelled frame."""
    refused = refused or {}
    spec = spec or SliceSpec()
    if stride < 1:
        raise EvaluationError(f"stride must be at least 1, got {stride}")
    root_path = Path(root).resolve()
    sources: list[SuiteSource] = []
    frames: list[SuiteFrame] = []
    locations: dict[str, str] = {}
    seen: dict[str, str] = {}
    for d in data_dirs:
        path = Path(d).resolve()
        try:
            ds = Dataset(path)
            meta = ds.meta()
        except FormatError as exc:
            raise EvaluationError(f"suite source {d}: {exc}") from exc
        if WEAK_LABELS_KEY in meta:
            raise EvaluationError(
                f"suite source {d}: its labels are weak (machine-made, meta.json key "
                f"{WEAK_LABELS_KEY!r}); a suite holds only labels people or a simulator made"
            )
        src = _source_of(path.name, meta)
        if src.name in locations:
            raise EvaluationError(f"two suite sources are named {src.name!r}: {d} and another")
        locations[src.name] = os.path.relpath(path, root_path)
        sources.append(src)
        labelled = [i for i in ds.indices if ds.has_labels(i)][::stride]
        for index in labelled:
            points, labels = ds.points(index), ds.labels(index)
            digest = points_digest(points)
            where = f"{src.name}/{index}"
            if digest in refused:
                raise EvaluationError(
                    f"frame {where} (points digest {digest}) was weakly labelled "
                    f"({refused[digest]}); a frame that extended a training set by weak labels "
                    "can never be a suite frame"
                )
            if digest in seen:
                raise EvaluationError(f"frame {where} is the same frame as {seen[digest]}")
            seen[digest] = where
            facts = facts_of(
                labels.class_names(),
                labels.boxes(),
                [o.num_points for o in labels.objects],
                src.weather,
                src.beams,
            )
            frames.append(
                SuiteFrame(
                    src.name,
                    index,
                    digest,
                    labels_digest(labels),
                    tuple(memberships(spec, facts)),
                    frame_statistics(points),
                )
            )
    if not frames:
        raise EvaluationError(f"{[str(d) for d in data_dirs]}: no labelled frames for a suite")
    suite = Suite(name, spec, tuple(sources), tuple(frames), locations, root_path)
    log.info("built suite %r: %d frames, version %s", name, len(frames), suite.version[:12])
    return suite


def write_suite(suite: Suite, path: str | os.PathLike[str]) -> Path:
    """Write the manifest to ``path`` (a file, or ``MANIFEST_FILE`` in a directory) atomically;
    the manifest must sit in ``suite.root`` so its relative locations hold."""
    target = Path(path)
    if target.is_dir():
        target = target / MANIFEST_FILE
    if target.resolve().parent != suite.root:
        raise EvaluationError(
            f"{target}: a suite's manifest must be written into its root {suite.root}"
        )
    text = json.dumps(suite.manifest(), indent=1, sort_keys=True) + "\n"
    atomic_write_bytes(target, text.encode(), durable=True)
    return target


def _manifest_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p / MANIFEST_FILE if p.is_dir() else p


def load_suite(path: str | os.PathLike[str]) -> Suite:
    """Read a manifest and check that its version matches its content (EvaluationError naming
    the file otherwise: a hand-edited or corrupt manifest is refused)."""
    file = _manifest_path(path)
    try:
        data = json.loads(file.read_text())
        if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not a {FORMAT} v{FORMAT_VERSION} manifest")
        content = data["content"]
        suite = Suite(
            name=str(data["name"]),
            spec=SliceSpec.from_json(content["spec"]),
            sources=tuple(SuiteSource(**s) for s in content["sources"]),
            frames=tuple(
                SuiteFrame(
                    f["source"],
                    int(f["index"]),
                    f["digest"],
                    f["labels_digest"],
                    tuple(f["slices"]),
                    dict(f["stats"]),
                )
                for f in content["frames"]
            ),
            locations={str(k): str(v) for k, v in data["locations"].items()},
            root=file.resolve().parent,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EvaluationError(f"{file}: cannot read suite manifest: {exc}") from exc
    if suite.version != data.get("version"):
        raise EvaluationError(
            f"{file}: version {data.get('version')!r} does not match the content "
            f"({suite.version}); the manifest was changed after it was built"
        )
    return suite


def suite_digests(suite: Suite | str | os.PathLike[str]) -> set[str]:
    """The point digests of every suite frame (``points_digest``): a training set holding one
    of them must be refused. Accepts a suite or the path of its manifest."""
    loaded = suite if isinstance(suite, Suite) else load_suite(suite)
    return {f.digest for f in loaded.frames}


def read_frames(
    suite: Suite, *, verify: bool = True
) -> Iterable[tuple[SuiteFrame, npt.NDArray[np.float32], FrameLabels]]:
    """Each suite frame with its points and labels, read from the source directories; with
    ``verify`` a frame whose points or labels no longer match the manifest is refused."""
    datasets: dict[str, Dataset] = {}
    for frame in suite.frames:
        ds = datasets.get(frame.source)
        if ds is None:
            try:
                ds = datasets[frame.source] = Dataset(suite.source_dir(frame.source))
            except FormatError as exc:
                raise EvaluationError(f"suite {suite.name!r}: {exc}") from exc
        points, labels = ds.points(frame.index), ds.labels(frame.index)
        if verify:
            got, got_labels = points_digest(points), labels_digest(labels)
            if got != frame.digest or got_labels != frame.labels_digest:
                raise EvaluationError(
                    f"suite frame {frame.source}/{frame.index}: points {got[:12]} / labels "
                    f"{got_labels[:12]} differ from the manifest's {frame.digest[:12]} / "
                    f"{frame.labels_digest[:12]}; rebuild the suite (new version) instead"
                )
        yield frame, points, labels


__all__ = [
    "WEAK_LABELS_KEY",
    "Suite",
    "SuiteFrame",
    "SuiteSource",
    "build_suite",
    "content_version",
    "labels_digest",
    "load_suite",
    "points_digest",
    "read_frames",
    "suite_digests",
    "write_suite",
]
