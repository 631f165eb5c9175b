"""Driving the labelling tool's page: log in, wait for a task, map sensor-frame metres to the
top view's pixels (the page publishes where that view looks), draw with the mouse."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.image import imread
from playwright.sync_api import Page

from tests.annotator.server import PASSWORD

#: how long a page may take to load a task (software WebGL on a shared CI machine)
READY_MS = 60_000


def log_in(page: Page, url: str, name: str, *, mode: str | None = None) -> None:
    """Open the app, log in as ``name`` and wait until a task is on screen."""
    page.goto(f"{url}/app/" + (f"?mode={mode}" if mode else ""))
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    wait_ready(page)


def wait_ready(page: Page) -> None:
    page.wait_for_selector("body[data-ready='1']", timeout=READY_MS)


def top_pixel(page: Page, x: float, y: float) -> tuple[float, float]:
    """The page position of the sensor-frame point (x, y) in the top view (x up, y left)."""
    area = page.locator("#top-area")
    view = area.get_attribute("data-view")
    assert view, "the top view has not rendered yet"
    cx, cy, half = (float(v) for v in view.split(","))
    box = area.bounding_box()
    assert box is not None
    scale = box["height"] / (2 * half)  # pixels per metre
    return (
        box["x"] + box["width"] / 2 - (y - cy) * scale,
        box["y"] + box["height"] / 2 - (x - cx) * scale,
    )


def slice_pixel(page: Page, view: str, x: float, y: float, z: float) -> tuple[float, float]:
    """The page position of the sensor-frame point (x, y, z) in the ``side`` or ``front`` view
    of the selected box (the page publishes where each looks: centre, screen-right axis, half
    height)."""
    area = page.locator(f"#{view}-area")
    published = area.get_attribute("data-view")
    assert published, f"the {view} view has not rendered yet"
    cx, cy, cz, rx, ry, half = (float(v) for v in published.split(","))
    box = area.bounding_box()
    assert box is not None
    scale = box["height"] / (2 * half)  # pixels per metre
    along = (x - cx) * rx + (y - cy) * ry
    return (
        box["x"] + box["width"] / 2 + along * scale,
        box["y"] + box["height"] / 2 - (z - cz) * scale,
    )


def drag_pixels(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Press at ``start`` and release at ``end`` (page pixels), then let the page draw it."""
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def drag_in_top_view(
    page: Page, start: tuple[float, float], end: tuple[float, float], *, shift: bool = False
) -> None:
    """Press at ``start`` and release at ``end`` (sensor-frame metres) in the top view."""
    x0, y0 = top_pixel(page, *start)
    x1, y1 = top_pixel(page, *end)
    if shift:
        page.keyboard.down("Shift")
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=8)
    page.mouse.up()
    if shift:
        page.keyboard.up("Shift")
    # let the page handle the release and draw it before the next input: on a loaded machine a
    # key press or drag sent at once can reach the page before this drag's last move was drawn
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def wait_saved(page: Page) -> None:
    page.wait_for_selector("#save-state[data-state='saved']", timeout=30_000)


def distinct_colours(png: bytes) -> int:
    """How many distinct RGB colours a PNG screenshot holds."""
    rgb = np.asarray(imread(io.BytesIO(png), format="png"))[..., :3]
    return int(np.unique(rgb.reshape(-1, 3), axis=0).shape[0])
