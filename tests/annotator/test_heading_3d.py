"""Heading with the mouse in the perspective 3D view, against ``longtail backend serve``: the
annotator takes the pedestrian pre-label, Shift-drags on it in the 3D view a quarter turn round
its centre, and the box's heading turns by that quarter turn (within 2 degrees) with its
centre and size unchanged; the drag is one undo step. (Boxes are yaw-only: the side and front
views move and resize, ``test_labelling.py`` drags them.)"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.annotator.pages import log_in
from tests.annotator.server import running_backend
from tests.fixtures.browser import offline_page

#: a world point (sensor frame, metres) to page pixels through the 3D view's camera
PROJECT_JS = """([x, y, z]) => {
  const { matrix: m, rect } = window.longtailSession.views.viewOf("persp");
  const w = m[3] * x + m[7] * y + m[11] * z + m[15];
  const nx = (m[0] * x + m[4] * y + m[8] * z + m[12]) / w;
  const ny = (m[1] * x + m[5] * y + m[9] * z + m[13]) / w;
  return [rect.left + (nx + 1) / 2 * rect.width, rect.top + (1 - ny) / 2 * rect.height];
}"""


def selected_box(page: Page) -> list[float]:
    return list(page.evaluate("() => window.longtailSession.state.selectedLabel().box"))


def pixel(page: Page, box: list[float], angle: float, radius: float) -> tuple[float, float]:
    x, y, z = box[0] + radius * math.cos(angle), box[1] + radius * math.sin(angle), box[2]
    px, py = page.evaluate(PROJECT_JS, [x, y, z])
    return float(px), float(py)


def test_shift_drag_in_the_3d_view_turns_the_heading(tmp_path: Path) -> None:
    with (
        running_backend(tmp_path, {"ann": "annotator"}) as backend,
        offline_page(1400, 900, webgl=True) as offline,
    ):
        page = offline.page
        log_in(page, backend.url, "ann")
        page.locator("#prelabels li button.accept").first.click()
        start = selected_box(page)
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        a0 = math.atan2(1.0, 0.2)  # a direction from the centre, pressed inside the footprint
        page.keyboard.down("Shift")
        page.mouse.move(*pixel(page, start, a0, 0.2))
        page.mouse.down()
        for k in range(1, 9):  # then round the centre, further out for precision
            page.mouse.move(*pixel(page, start, a0 + k * math.pi / 16, 3.0))
        page.mouse.up()
        page.keyboard.up("Shift")
        turned = selected_box(page)
        change = math.remainder(turned[6] - start[6], 2 * math.pi)
        assert math.degrees(change) == pytest.approx(90.0, abs=2.0)
        assert turned[:6] == pytest.approx(start[:6], abs=1e-9)
        page.keyboard.press("Control+z")
        assert selected_box(page)[6] == pytest.approx(start[6], abs=1e-9)
        assert offline.blocked == []
