"""An overlap task in the review view, against ``longtail backend serve``: three annotators
label the frame (through the API), disagree, and the task goes to the senior panel; the
adjudicator sees the consensus proposal with every annotator's boxes over it, coloured by
agreement (the server's matcher, ``GET /work/{id}/agreement``), with a legend and counts per
annotator, and accepts the proposal.

By construction: ``a1`` and ``a3`` drew the car and the pedestrian where they are; ``a2`` drew
the car 1.5 m too far forward (IoU 0.47 with the proposal, below the car threshold 0.7) and
called the pedestrian a cyclist; ``a3`` also drew a box where nothing is.

``LONGTAIL_WRITE_DOCS_IMAGES=1`` also writes the screenshot to
``docs/images/annotator_agreement.png`` (the picture the README shows).
"""

from __future__ import annotations

import io
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.image import imread

from tests.annotator.pages import log_in
from tests.annotator.server import running_backend
from tests.backend.annotation.world import CAR, PEDESTRIAN
from tests.fixtures.browser import offline_page

DOCS_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "images" / "annotator_agreement.png"

PEOPLE = {"a1": "annotator", "a2": "annotator", "a3": "annotator", "boss": "senior"}
#: the car 1.5 m further along its heading
SHIFTED_CAR = (
    CAR[0] + 1.5 * math.cos(CAR[6]),
    CAR[1] + 1.5 * math.sin(CAR[6]),
    *CAR[2:],
)
NOTHING_THERE = (12.0, -7.0, -0.9, 2.0, 1.0, 1.5, 0.0)
#: the agreement colours of annotator/src/agreement.ts
COLOURS = {"agree": 0x2ECC71, "class": 0xB47CFF, "low_iou": 0xFFD60A, "unmatched": 0xFF3B3B}


def boxes(frame: str, *drawn: tuple[str, str, tuple[float, ...]]) -> list[dict[str, Any]]:
    return [
        {"id": box_id, "frame_id": frame, "track_id": i + 1, "class_name": cls, "box": list(b)}
        for i, (box_id, cls, b) in enumerate(drawn)
    ]


def has_colour(png: bytes, colour: int) -> bool:
    rgb = (np.asarray(imread(io.BytesIO(png), format="png"))[..., :3] * 255).round().astype(int)
    want = np.array([(colour >> 16) & 255, (colour >> 8) & 255, colour & 255])
    return bool(np.any(np.all(np.abs(rgb - want) <= 2, axis=-1)))


def test_the_adjudicator_sees_each_annotators_boxes_coloured_by_agreement(tmp_path: Path) -> None:
    with running_backend(tmp_path, PEOPLE, overlap=3) as backend:
        frame = backend.frame_id
        drawn = {
            "a1": boxes(frame, ("car", "car", CAR), ("ped", "pedestrian", PEDESTRIAN)),
            "a2": boxes(frame, ("car", "car", SHIFTED_CAR), ("ped", "cyclist", PEDESTRIAN)),
            "a3": boxes(
                frame,
                ("car", "car", CAR),
                ("ped", "pedestrian", PEDESTRIAN),
                ("ghost", "car", NOTHING_THERE),
            ),
        }
        for name, labels in drawn.items():
            with backend.api(name) as api:
                work = api.post("/work/next").json()["assignment_id"]
                body = {"base_version": 0, "labels": {"boxes": labels}}
                assert api.put(f"/work/{work}/labels", json=body).status_code == 200
                done = api.post(f"/work/{work}/submit", json={"base_version": 1}).json()
        assert done["stage"] == "adjudicate", done

        with backend.api("boss") as api:
            work = api.post("/work/next", params={"stage": "adjudicate"}).json()["assignment_id"]
            found = api.get(f"/work/{work}/agreement").json()
        status = {(s["author"], b["box_id"]): b["status"] for s in found for b in s["boxes"]}
        assert status == {
            ("a1", "car"): "agree",
            ("a1", "ped"): "agree",
            ("a2", "car"): "low_iou",
            ("a2", "ped"): "class",
            ("a3", "car"): "agree",
            ("a3", "ped"): "agree",
            ("a3", "ghost"): "unmatched",
        }
        low = next(b for s in found for b in s["boxes"] if b["status"] == "low_iou")
        assert 0.3 < low["iou"] < 0.7  # below the car threshold, still the same object

        with offline_page(1400, 900, webgl=True) as offline:
            page = offline.page
            log_in(page, backend.url, "boss", mode="adjudicate")
            assert page.locator("#mode").input_value() == "adjudicate"
            assert page.locator("#reject").is_hidden()  # the panel closes the task
            legend = page.inner_text("#agreement-legend")
            assert "another class" in legend and "below the threshold" in legend
            counts = {
                li.get_attribute("data-author"): li.inner_text()
                for li in page.locator("#agreement-counts li").all()
            }
            assert "1 low iou" in counts["a2"] and "1 class" in counts["a2"]
            assert "2 agree" in counts["a3"] and "1 unmatched" in counts["a3"]
            page.keyboard.press("[")  # zoom the top view out: the stray box is at its edge
            page.evaluate(
                "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
            )
            top = page.locator("#top-area").screenshot()
            for name, colour in COLOURS.items():
                assert has_colour(top, colour), f"no {name} box drawn in the top view"
            shot = tmp_path / "annotator_agreement.png"
            page.screenshot(path=str(shot))
            page.fill("#review-comment", "a2's car is too far forward; the consensus holds")
            page.click("#approve")
            page.wait_for_function(
                "document.getElementById('flash').textContent.includes('now at accepted')"
            )
            assert offline.blocked == []
        if os.environ.get("LONGTAIL_WRITE_DOCS_IMAGES") == "1":
            DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, DOCS_IMAGE)
