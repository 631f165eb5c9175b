"""A drive from observations to the boxes written: a kept class gets the refined box, kept
background gets nothing, an unsure candidate is marked so training drops it; the weak drive on
disk is marked weak and read back only as weak."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from agent.perception.package import ModelPackage
from backend.errors import TrainingError
from backend.evaluation.suite import WEAK_LABELS_KEY, points_digest
from backend.training.candidates import CandidateSet, build_candidates
from backend.training.sources import DriveSource
from backend.training.weak.labeller import UNSURE, UNSURE_MARGIN, label_drives, report
from backend.training.weak.observe import observe
from backend.training.weak.source import WeakSource
from backend.training.weak.store import WEAK_FILE, weak_digests, write_weak_drive
from core.formats.dataset import Dataset, DatasetWriter
from tests.backend.training.weak.fakes import BLOB, CAR, WALL, FixedPerception, drive_frames


def test_kept_labels_become_boxes_and_unsure_candidates_are_marked() -> None:
    frames = drive_frames(6)
    observed = observe(frames, FixedPerception())
    assert len(observed.observations) == 18 and observed.keys == tuple(str(i) for i in range(6))
    # the tracker follows the three still objects: three tracks
    assert len(set(observed.observations.track.tolist())) == 3
    (result,) = label_drives([observed])
    assert result.written_positions() == list(range(6))
    objects = result.frame_objects(0)
    assert [o.class_name for o in objects] == ["car", UNSURE]  # the wall is background
    car, unsure = objects
    assert car.box == pytest.approx(CAR) and car.num_points == 300
    assert unsure.box[3:6] == pytest.approx([v + 2 * UNSURE_MARGIN for v in BLOB[3:6]])
    assert result.weak_objects() == {"background": 6, "car": 6}
    summary = report([result])
    assert summary["weak_labels_kept"] == 12 and summary["candidates"] == 18
    assert "accuracy" not in summary  # no gold, no accuracy


def test_gold_measures_but_never_labels() -> None:
    frames = drive_frames(6)
    observed = observe(frames, FixedPerception())
    gold = ["car", "background", "pedestrian"] * 6
    (measured,) = label_drives([observed], gold=[gold])
    (plain,) = label_drives([observed])
    assert (measured.labels.label == plain.labels.label).all()
    accuracy = measured.report()["accuracy"]
    assert accuracy["weak"]["classes"]["car"]["precision"]["value"] == 1.0
    assert accuracy["weak"]["classes"]["pedestrian"]["coverage"]["value"] == 0.0
    assert accuracy["champion_only"]["overall"]["coverage"]["hits"] == 12
    assert set(accuracy["functions"]) == {"champion", "track", "geometry"}
    with pytest.raises(TrainingError, match="gold classes"):
        label_drives([observed], gold=[gold[:-1]])


def test_a_drive_seen_out_of_time_order_is_refused() -> None:
    frames = drive_frames(3)
    with pytest.raises(TrainingError, match="time order"):
        observe([frames[1], frames[0]], FixedPerception())


def test_the_weak_drive_is_marked_and_read_back_only_as_weak(tmp_path: Path) -> None:
    frames = drive_frames(6)
    (result,) = label_drives([observe(frames, FixedPerception())])
    out = write_weak_drive(
        tmp_path / "weak", result, frames, champion="m1", settings={}, sources=["test"]
    )
    ds = Dataset(out)
    assert WEAK_LABELS_KEY in ds.meta() and len(ds) == 6
    assert ds.labels(0).class_names() == ["car", UNSURE]
    document = json.loads((out / WEAK_FILE).read_text())
    assert len(document["frames"][0]["posteriors"]) == 3
    assert weak_digests(out) == {points_digest(f.points): f"weak/{i}" for i, f in enumerate(frames)}
    source = WeakSource(out)
    assert source.name == "weak:weak" and len(source.frames()) == 6
    with pytest.raises(TrainingError, match="marks its labels weak"):
        DriveSource(out)  # never read as ground truth
    with pytest.raises(TrainingError, match="exists"):
        write_weak_drive(out, result, frames, champion="m1", settings={}, sources=[])
    with pytest.raises(TrainingError, match="another sequence"):
        write_weak_drive(
            tmp_path / "other", result, frames[1:], champion="m1", settings={}, sources=[]
        )
    assert not (tmp_path / "other").exists()  # nothing half-written


def test_training_drops_unsure_candidates_instead_of_calling_them_background(
    tmp_path: Path, tiny_package: Path
) -> None:
    """The weak drive through the training code's own candidate labelling: the car's cluster is
    a car, the unsure blob is dropped (as a rare object is), the wall is background; without
    the unsure mark the blob would have been trained as background."""
    pkg = ModelPackage.load(tiny_package)
    frames = drive_frames(4)
    (result,) = label_drives([observe(frames, FixedPerception())])
    out = write_weak_drive(tmp_path / "w", result, frames, champion="m", settings={}, sources=[])

    def near(cands: CandidateSet, box: tuple[float, ...], radius: float) -> np.ndarray:
        mask: np.ndarray = np.hypot(cands.boxes[:, 0] - box[0], cands.boxes[:, 1] - box[1]) < radius
        return mask

    cands = build_candidates(out, pkg.params, pkg.class_names, progress=False)
    assert near(cands, CAR, 2.5).any()
    assert (cands.labels[near(cands, CAR, 2.5)] == pkg.class_names.index("car")).all()
    assert (cands.labels[near(cands, WALL, 10.5)] == 0).all() and near(cands, WALL, 10.5).any()
    assert not near(cands, BLOB, 1.0).any()  # dropped
    # the same frames with the unsure marks removed: the blob's cluster is background
    plain = DatasetWriter(tmp_path / "plain")
    ds = Dataset(out)
    for i in ds.indices:
        labels = ds.labels(i)
        kept = tuple(o for o in labels.objects if o.class_name != UNSURE)
        plain.write_frame(ds.points(i), replace(labels, objects=kept))
    unmarked = build_candidates(tmp_path / "plain", pkg.params, pkg.class_names, progress=False)
    assert (
        near(unmarked, BLOB, 1.0).any() and (unmarked.labels[near(unmarked, BLOB, 1.0)] == 0).all()
    )
