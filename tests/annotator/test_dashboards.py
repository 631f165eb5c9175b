"""The dashboards in a real browser against ``longtail backend serve`` holding one turn of the
loop (``tests/annotator/dashboard_server.py``): a safety engineer sees the failed release's
failing slice in red with its numbers, signs off the passing release and downloads its report;
the safety case graph, the SOTIF view, the release diff and the operations page show the
backend's own figures; an annotator reaches none of it, in the page or in the API.

``LONGTAIL_WRITE_DOCS_IMAGES=1`` also writes the screenshots the README shows
(``docs/images/dashboard_*.png``).
"""

from __future__ import annotations

import html
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.annotator.dashboard_server import DISCOVERY, Dashboards, dashboard_backend
from tests.annotator.server import PASSWORD
from tests.backend.ops.world import FAILING, PASSING
from tests.fixtures.browser import offline_page

DOCS = Path(__file__).resolve().parents[2] / "docs" / "images"
#: the dashboards' red for failures (dashboard.css)
RED = "rgb(255, 92, 92)"
COMMENT = "Checked the gate's evidence and the open SPIs; fine for the urban ODD."


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboards]:
    with dashboard_backend(tmp_path_factory.mktemp("dashboards")) as running:
        yield running


def docs_image(shot: Path, name: str) -> None:
    if os.environ.get("LONGTAIL_WRITE_DOCS_IMAGES") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS / name)


def fmt(value: float, *, sign: bool = False) -> str:
    """A number as the page writes it (format.ts): 3 decimals, a true minus sign."""
    text = f"{abs(value):.3f}"
    if value < 0 and float(text) != 0:
        return f"−{text}"
    return f"+{text}" if sign else text


def open_view(page: Page, url: str, view: str, name: str = "safety") -> None:
    """Open the dashboards at ``#/view``, log in as ``name``, wait until the view is drawn."""
    page.goto(f"{url}/app/dashboard.html#/{view}")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)


def go(page: Page, view: str) -> None:
    page.evaluate("() => { document.body.dataset.ready = '0'; }")
    page.evaluate(f"() => {{ window.location.hash = '#/{view}'; }}")
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)


def colour(page: Page, selector: str) -> str:
    return str(page.eval_on_selector(selector, "e => getComputedStyle(e).color"))


def test_a_failed_release_shows_its_failing_slice_in_red_with_its_numbers(
    served: Dashboards, tmp_path: Path
) -> None:
    with served.api("safety") as api:
        release = api.get(f"/safety/releases/{FAILING}").json()
    assert release["failed_slices"] == ["class:dog"]
    dog = next(c for c in release["checks"] if c["slice"] == "class:dog")
    assert dog["passed"] is False and dog["kind"] == "no_regression"
    with offline_page(1400, 900) as offline:
        page = offline.page
        open_view(page, served.url, f"release?version={FAILING}")
        assert "FAILED" in page.inner_text("#verdict h2")
        assert page.get_attribute("#verdict", "class") == "verdict failed"
        item = "#failed-slices li[data-slice='class:dog']"
        text = page.inner_text(item)
        for figure in (
            fmt(dog["value"], sign=True),
            f"[{fmt(dog['lo'])}, {fmt(dog['hi'])}]",
            f"threshold {fmt(dog['threshold'])}",
            f"margin {fmt(dog['margin'], sign=True)}",
        ):
            assert figure in text, (figure, text)
        assert colour(page, item) == RED
        row = "#checks tr[data-slice='class:dog'][data-metric='recall']"
        assert page.get_attribute(row, "class") == "fail"
        assert colour(page, f"{row} td") == RED
        assert "FAILED" in page.inner_text(row)
        # the passing slices are not red, and there is one table row per check
        passing = "#checks tr[data-slice='all'][data-kind='floor'] td"
        assert colour(page, passing) != RED
        checks = [c for c in release["checks"] if c["kind"] not in ("verdict", "bypass")]
        assert page.locator("#checks tr[data-kind]").count() == len(checks)
        # the interval chart of the recall differences is drawn
        assert page.locator("canvas#release-deltas[data-chart='bar']").count() == 1
        # each model's own recall per slice, the failed slice's row red
        figure = next(
            f for f in release["figures"] if (f["slice"], f["metric"]) == ("class:dog", "recall")
        )
        row = "#figures tr[data-slice='class:dog']"
        text = page.inner_text(row)
        for value in (figure["champion"]["value"], figure["candidate"]["value"]):
            assert fmt(value) in text, (value, text)
        assert page.get_attribute(row, "class") == "fail"
        recall_rows = [f for f in release["figures"] if f["metric"] == "recall"]
        assert page.locator("#figures tr[data-slice]").count() == len(recall_rows)
        assert page.locator("canvas#release-figures[data-chart='bar']").count() == 1
        other = next(f["metric"] for f in release["figures"] if f["metric"] != "recall")
        page.select_option("#figures-metric", other)
        assert page.get_attribute("#figures tr[data-slice]", "data-metric") == other
        page.select_option("#figures-metric", "recall")
        # a failed gate cannot be signed off: the page says why and offers no form
        assert "failed" in page.inner_text("#signoff-blocker")
        assert page.locator("#signoff-form").count() == 0
        page.screenshot(path=str(tmp_path / "release.png"))
        assert offline.blocked == []
    docs_image(tmp_path / "release.png", "dashboard_release.png")


def test_a_safety_engineer_signs_off_the_passing_release_and_downloads_its_report(
    served: Dashboards, tmp_path: Path
) -> None:
    with offline_page(1400, 900) as offline:
        page = offline.page
        open_view(page, served.url, f"release?version={PASSING}")
        assert "PASSED" in page.inner_text("#verdict h2")
        assert page.locator("#failed-slices").count() == 0
        page.fill("#signoff-comment", COMMENT)
        page.click("#signoff-button")
        page.wait_for_selector("li.signoff", timeout=30_000)
        assert COMMENT in page.inner_text("#signoffs") and "safety" in page.inner_text("#signoffs")
        assert page.locator("#signoff-form").count() == 0  # signed once
        with page.expect_download() as download:
            page.click("#report-button")
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert offline.blocked == []
    with served.api("safety") as api:
        release = api.get(f"/safety/releases/{PASSING}").json()
        case = api.get("/safety/case", params={"model_version": PASSING}).json()
    [signoff] = release["signoffs"]
    assert (signoff["signed_by"], signoff["comment"]) == ("safety", COMMENT)
    assert signoff["snapshot_id"] == release["snapshot"]["id"]  # the release's own snapshot
    assert saved.name == f"longtail-safety-{PASSING}.html"
    report = saved.read_text()
    assert report.lower().startswith("<!doctype html>")
    for fact in (
        PASSING,
        html.escape(COMMENT),
        release["content_digest"],
        case["case"]["digest"],
        f"{release['verdict']['id']} (run {release['verdict']['run_id']})",
        "PASSED",
    ):
        assert fact in report, fact
    assert all(n["id"] in report for n in case["nodes"])  # the whole case tree
    assert "<script" not in report and "http://" not in report and "https://" not in report


def test_the_case_graph_and_the_operations_page_show_the_backends_figures(
    served: Dashboards, tmp_path: Path
) -> None:
    with served.api("safety") as api:
        case = api.get("/safety/case").json()
        ops = api.get("/ops/kpis").json()
        verdict = api.get(f"/evidence/verdicts/{case['verdict']['id']}").json()
    # the recall floor on the whole suite
    floor = next(n for n in case["nodes"] if n["spi"] and n["spi"]["check"] == "floor")
    with offline_page(1400, 900) as offline:
        page = offline.page
        open_view(page, served.url, "case")
        assert case["model_version"] == PASSING and case["champion"]
        assert page.locator("g.gsn-node").count() == len(case["nodes"])
        assert page.locator("path.gsn-edge").count() == len(case["links"])
        # every node drawn with its status (the fill follows it: gsn_layout.test.ts)
        statuses = {n["id"]: n["status"] or "none" for n in case["nodes"]}
        drawn = page.eval_on_selector_all(
            "g.gsn-node", "gs => gs.map(g => [g.dataset.id, g.dataset.status])"
        )
        assert dict(drawn) == statuses
        assert page.inner_text("#top-status") == case["top_status"]
        page.click(f"g.gsn-node[data-id='{floor['id']}']")
        page.wait_for_selector("#node-evidence tr[data-evidence]", timeout=30_000)
        spi = floor["spi"]
        detail = page.inner_text("#node-spi")
        assert fmt(spi["value"]) in detail and f"[{fmt(spi['lo'])}, {fmt(spi['hi'])}]" in detail
        assert page.inner_text("#node-status") == floor["status"]
        rows = page.eval_on_selector_all(
            "#node-evidence tr[data-evidence]", "rs => rs.map(r => Number(r.dataset.evidence))"
        )
        assert rows == floor["evidence_ids"]
        cited = next(e for e in verdict["evidence"] if e["id"] == floor["evidence_ids"][0])
        assert fmt(cited["value"]) in page.inner_text("#node-evidence")
        assert page.locator("canvas#trend-" + floor["id"]).count() == 1
        page.screenshot(path=str(tmp_path / "case.png"))

        go(page, "spis")
        assert page.locator("article.spi").count() == len([n for n in case["nodes"] if n["spi"]])
        assert page.locator("article.spi[data-status='violated']").count() == 0  # m-2 passed

        go(page, "ops")
        numbers = page.inner_text("#capture-table")
        for c in ops["capture"]:
            assert f"{c['frames_stored']}\t{c['frames_analysed']}\t{c['rate'] * 100:.2f} %" in (
                numbers
            ), c
        latency = page.inner_text("#latency-table")
        passing = next(x for x in ops["latency"] if x["model_version"] == PASSING)
        assert f"{passing['stages']['dataset_to_verdict'] / 60:.1f} min" in latency
        drift = page.inner_text("#drift-table")
        assert fmt(next(d for d in ops["drift"] if d["ks"] is not None)["ks"]) in drift
        assert "rev\treviewer\t1\t40.0" in page.inner_text("#reviewer-table")
        assert page.locator("canvas[data-chart]").count() == 7
        page.screenshot(path=str(tmp_path / "ops.png"), full_page=True)
        assert offline.blocked == []
    docs_image(tmp_path / "case.png", "dashboard_case.png")
    docs_image(tmp_path / "ops.png", "dashboard_ops.png")


def test_the_sotif_view_and_the_release_diff_show_the_backends_findings(
    served: Dashboards, tmp_path: Path
) -> None:
    with served.api("safety") as api:
        sotif = api.get("/safety/sotif").json()
        snapshots = api.get("/safety/snapshots").json()["items"]  # newest first
        base, target = snapshots[1]["model_version"], snapshots[0]["model_version"]
        diff = api.get(f"/safety/snapshots/{base}/diff/{target}").json()
    assert sotif["model_version"] == PASSING and target == PASSING
    dog = next(k for k in sotif["known"] if k["slice"] == "class:dog")
    [stroller] = [u for u in sotif["unknown"] if u["class_name"] == DISCOVERY]
    assert (stroller["objects"], stroller["frames"], stroller["tasks"]) == (1, 1, 1)  # one frame
    assert diff["status_changes"], diff  # the baseline had no verdict, m-2 has
    change = diff["status_changes"][0]
    with offline_page(1400, 900) as offline:
        page = offline.page
        open_view(page, served.url, "case")
        page.click("#nav a[data-view='sotif']")
        page.wait_for_selector("body[data-ready='1'][data-view='sotif']", timeout=60_000)
        tile = f"article.condition[data-slice='{dog['slice']}']"
        assert page.get_attribute(tile, "data-status") == dog["status"]
        assert page.inner_text(f"{tile} [data-role='status']") == dog["status"]
        for check in dog["checks"]:
            cells = page.inner_text(f"{tile} tr[data-evidence='{check['evidence_id']}']")
            assert fmt(check["value"], sign=check["kind"] == "no_regression") in cells, cells
            assert f"[{fmt(check['lo'])}, {fmt(check['hi'])}]" in cells, cells
        assert page.locator("article.condition").count() == len(sotif["known"])
        known = page.text_content("#sotif-known h2") or ""
        assert f"{len(sotif['known'])} triggering conditions" in known
        kinds = page.eval_on_selector_all(
            "#sotif-known .kind-group", "gs => gs.map(g => g.dataset.kind)"
        )
        assert sorted(kinds) == sorted({k["kind"] for k in sotif["known"]})
        row = page.inner_text(f"#sotif-unknown tr[data-class='{DISCOVERY}']")
        assert row.split("\t")[:4] == [
            DISCOVERY,
            str(stroller["objects"]),
            str(stroller["frames"]),
            str(stroller["tasks"]),
        ], row
        objects = sum(u["objects"] for u in sotif["unknown"])
        heading = page.text_content("#sotif-unknown h2") or ""
        assert f"{len(sotif['unknown'])} field discoveries, {objects} objects" in heading
        page.screenshot(path=str(tmp_path / "sotif.png"), full_page=True)

        page.click("#nav a[data-view='diff']")
        page.wait_for_selector("body[data-ready='1'][data-view='diff']", timeout=60_000)
        assert page.input_value("#diff-base") == base
        assert page.input_value("#diff-target") == target
        item = f"#diff-statuses tr[data-node='{change['id']}']"
        assert page.get_attribute(item, "data-before") == (change["before"] or "not argued")
        assert page.get_attribute(item, "data-after") == (change["after"] or "not argued")
        assert page.locator("#diff-statuses tr[data-node]").count() == len(diff["status_changes"])
        assert page.locator("#diff-spis tr[data-node]").count() == len(diff["spi_changes"])
        top = page.inner_text("#diff-top")
        assert diff["top_status"]["before"] in top and diff["top_status"]["after"] in top
        assert diff["case_digest"]["before"][:16] in page.inner_text("#diff-case")
        page.screenshot(path=str(tmp_path / "diff.png"), full_page=True)
        # the pickers ask for the other direction: the page shows what the API answers to it
        page.select_option("#diff-base", target)
        page.select_option("#diff-target", base)
        page.evaluate("() => { document.body.dataset.ready = '0'; }")
        page.click("#diff-button")
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        assert page.get_attribute(item, "data-after") == (change["before"] or "not argued")
        assert offline.blocked == []
    docs_image(tmp_path / "sotif.png", "dashboard_sotif.png")
    docs_image(tmp_path / "diff.png", "dashboard_diff.png")


def test_an_annotator_reaches_none_of_it(served: Dashboards) -> None:
    with offline_page(1280, 800) as offline:
        page = offline.page
        open_view(page, served.url, f"release?version={PASSING}", name="ann")
        assert page.locator("#refused").is_visible()
        assert "ann (annotator) may not" in page.inner_text("#refused")
        assert page.locator("#nav").is_hidden()
        assert page.inner_text("#view") == ""
        assert page.locator("#signoff-form, g.gsn-node, canvas").count() == 0
        # the labelling tool offers the dashboards to those who may read them only
        page.goto(f"{served.url}/app/")
        page.wait_for_function("document.getElementById('who').textContent.includes('ann')")
        assert page.locator("#dashboards").is_hidden()
        page.click("#logout")
        page.fill("#name", "safety")
        page.fill("#password", PASSWORD)
        page.click("#login-button")
        page.wait_for_function("document.getElementById('who').textContent.includes('safety')")
        assert page.locator("#dashboards").is_visible()
    with served.api("ann") as api:
        refused: dict[str, Any] = {
            path: api.get(path).status_code
            for path in (
                "/safety/case",
                "/safety/spis",
                "/safety/sotif",
                "/safety/snapshots",
                f"/safety/snapshots/{PASSING}/diff/{PASSING}",
                f"/safety/releases/{PASSING}",
                f"/safety/releases/{PASSING}/report.html",
                "/ops/kpis",
                "/metrics",
            )
        }
        refused["sign-off"] = api.post(
            f"/safety/releases/{PASSING}/signoffs", json={"comment": "me too"}
        ).status_code
    assert set(refused.values()) == {403}, refused
