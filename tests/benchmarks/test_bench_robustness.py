"""The robustness benchmark's conditions and distance bands (the full run is the benchmark)."""

from __future__ import annotations

import numpy as np

from backend.evaluation.algo import FrameEval
from benchmarks.bench_robustness import ALONE_DEFAULTS, _band, conditions
from simulators.effects import CLEAN, EFFECT_FIELDS
from simulators.sensors import PRESETS


def test_every_preset_gets_clean_each_artefact_alone_and_all_together() -> None:
    for name, preset in PRESETS.items():
        cond = conditions(name)
        assert cond["clean"] == CLEAN and cond["realistic"] == preset.realistic
        alone = [k for k in cond if k not in ("clean", "realistic")]
        # every artefact, the intensity scale only where the sensor reports 0-255
        expected = [k for k in EFFECT_FIELDS if k != "intensity_scale"]
        if preset.realistic.intensity_scale != 1.0:
            expected.insert(expected.index("wet_road"), "intensity_scale")
        assert alone == expected
        for k in alone:  # exactly one artefact on
            assert cond[k].only(k) == cond[k] != CLEAN
        assert cond["wet_road"] == ALONE_DEFAULTS.only("wet_road")


def test_a_band_keeps_boxes_and_detections_by_centre_distance() -> None:
    boxes = np.array(
        [[5.0, 0, 0, 4, 2, 1.5, 0], [25.0, 0, 0, 4, 2, 1.5, 0], [0, 50.0, 0, 4, 2, 1.5, 0]]
    )
    f = FrameEval(
        boxes, ("car", "car", "pedestrian"), np.array([0.9, 0.8, 0.7]), boxes[:2], ("car", "car")
    )
    near = _band(f, 0.0, 20.0)
    assert near.det_classes == ("car",) and near.gt_boxes.shape == (1, 7)
    far = _band(f, 40.0, 70.0)
    assert far.det_classes == ("pedestrian",) and far.gt_boxes.shape == (0, 7)
