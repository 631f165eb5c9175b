"""Review in the browser against ``longtail backend serve``: the reviewer sees the annotator's
box over the pre-label, rejects it with a reason code and a comment; the annotator gets the task
back and sees both on the box, fixes it and submits again; the reviewer approves and the task is
accepted with the fixed box. Roles hold in the page and in the API.

``LONGTAIL_WRITE_DOCS_IMAGES=1`` also writes the screenshot to
``docs/images/annotator_review.png`` (the picture the README shows).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from tests.annotator.pages import drag_in_top_view, log_in, wait_saved
from tests.annotator.server import PASSWORD, RunningBackend, running_backend
from tests.annotator.test_labelling import ROUGH, class_key, draw_and_fit_car
from tests.fixtures.browser import offline_page

DOCS_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "images" / "annotator_review.png"

PEOPLE = {"ann": "annotator", "rev": "reviewer", "ops": "safety_engineer"}
COMMENT = "the rear bumper is outside the box"


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[RunningBackend]:
    with running_backend(tmp_path, PEOPLE) as running:
        yield running


def flash(page: Page) -> str:
    return page.inner_text("#flash")


def test_reject_with_a_reason_fix_and_approve(backend: RunningBackend, tmp_path: Path) -> None:
    # the annotator labels the car and submits
    with offline_page(webgl=True) as offline:
        page = offline.page
        log_in(page, backend.url, "ann")
        draw_and_fit_car(page)
        page.keyboard.press(class_key(page, "car"))
        page.click("#submit")
        page.wait_for_function("document.getElementById('flash').textContent.includes('submitted')")
        assert offline.blocked == []
    with backend.api("rev") as api:
        task_id = api.get("/tasks").json()["items"][0]["id"]
        submitted = next(
            s for s in api.get(f"/tasks/{task_id}").json()["label_sets"] if s["author"] == "ann"
        )
    length = submitted["labels"]["boxes"][0]["box"][3]

    # the reviewer sees the box over the pre-label and rejects it
    with offline_page(1400, 900, webgl=True) as offline:
        page = offline.page
        log_in(page, backend.url, "rev", mode="review")
        assert page.locator("#mode").input_value() == "review"
        assert page.locator("#submit").is_hidden()  # reviewers decide, they do not submit
        assert "pedestrian" in page.inner_text("#prelabels")
        page.locator("#boxes li").first.click()
        page.select_option("#reason", "bad_extent")
        page.fill("#box-comment", COMMENT)
        page.click("#reject-box")
        assert "bad_extent" in page.inner_text("#boxes li.rejected")
        page.fill("#review-comment", "one box to fix")
        page.locator("#legend").click(force=True)  # focus off the text field, then deselect
        page.keyboard.press("Escape")
        page.wait_for_timeout(300)
        shot = tmp_path / "annotator_review.png"
        page.screenshot(path=str(shot))
        page.click("#approve")  # refused while a box is rejected
        assert "rejected: clear them" in flash(page)
        page.click("#reject")
        page.wait_for_function("document.getElementById('flash').textContent.includes('rejected;')")
        assert offline.blocked == []
    if os.environ.get("LONGTAIL_WRITE_DOCS_IMAGES") == "1":
        DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMAGE)

    # the annotator gets the task back with the reason and the comment on the box, and fixes it
    with offline_page(webgl=True) as offline:
        page = offline.page
        log_in(page, backend.url, "ann")
        rejected = page.inner_text("#boxes li.rejected")
        assert "bad_extent" in rejected and COMMENT in rejected
        assert "one box to fix" in page.inner_text("#review-notes")
        page.locator("#boxes li").first.click()
        for _ in range(3):
            page.keyboard.press("i")  # 0.3 m longer
        page.keyboard.press("Control+s")
        wait_saved(page)
        page.click("#submit")
        page.wait_for_function("document.getElementById('flash').textContent.includes('submitted')")

    # the reviewer approves the fixed box
    with offline_page(webgl=True) as offline:
        page = offline.page
        log_in(page, backend.url, "rev", mode="review")
        assert page.locator("#boxes li.rejected").count() == 0
        page.click("#approve")
        page.wait_for_function("document.getElementById('flash').textContent.includes('approved')")
    with backend.api("rev") as api:
        detail = api.get(f"/tasks/{task_id}").json()
    assert detail["task"]["stage"] == "accepted"
    accepted = [
        s for s in detail["label_sets"] if s["id"] == detail["task"]["accepted_label_set_id"]
    ]
    assert accepted[0]["labels"]["boxes"][0]["box"][3] == pytest.approx(length + 0.3, abs=1e-3)
    assert [r["decision"] for r in detail["reviews"]] == ["reject", "approve"]


def test_roles_hold_in_the_page_and_the_api(backend: RunningBackend) -> None:
    with offline_page(webgl=True) as offline:
        page = offline.page
        page.goto(f"{backend.url}/app/")
        page.fill("#name", "ann")
        page.fill("#password", "not the password")
        page.click("#login-button")
        page.wait_for_function("document.getElementById('login-error').textContent !== ''")
        assert "wrong name or password" in page.inner_text("#login-error")
        # an annotator labels only: asking for review mode still opens labelling
        log_in(page, backend.url, "ann", mode="review")
        assert page.locator("#mode option").all_inner_texts() == ["Labelling"]
        assert page.locator("#reject").is_hidden()
        drag_in_top_view(page, *ROUGH)
        page.keyboard.press("Control+s")
        wait_saved(page)
        with backend.api("ann") as ann:
            assignment = ann.post("/work/next").json()["assignment_id"]
        # a safety engineer neither labels nor reviews: no task is opened
        page.click("#logout")
        page.fill("#name", "ops")
        page.fill("#password", PASSWORD)
        page.click("#login-button")
        page.wait_for_function("document.getElementById('status').textContent.includes('neither')")
        assert page.locator("#mode option").count() == 0
        assert page.get_attribute("body", "data-ready") != "1"
    with backend.api("ann") as ann:
        assert ann.post("/work/next", params={"stage": "review"}).status_code == 403
        verdict = ann.post(f"/work/{assignment}/review", json={"decision": "approve"})
        assert verdict.status_code == 403
    with backend.api("ops") as ops:
        assert ops.post("/work/next").status_code == 403
        assert ops.get(f"/work/{assignment}/frames/x/points").status_code in (403, 409)
    assert httpx.post(f"{backend.url}/work/next").status_code == 401
