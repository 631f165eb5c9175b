"""The API docs work offline: ``/docs`` (Swagger UI) and ``/redoc`` load every asset from the
backend itself, and headless Chromium with the network off renders every route.

``LONGTAIL_WRITE_DOCS_IMAGES=1`` also writes the screenshot to ``docs/images/api_docs.png``
(the picture the README shows)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.api.docs import ASSETS_URL
from backend.wiring import build_api, build_backend, local_config
from tests.fixtures.browser import is_loopback, offline_page
from tests.fixtures.http import serve

DOCS_IMAGE = Path(__file__).resolve().parents[3] / "docs" / "images" / "api_docs.png"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    backend = build_backend(local_config(tmp_path))
    try:
        with serve(build_api(backend)) as http:
            yield http
    finally:
        backend.close()


def api_paths(client: httpx.Client) -> list[str]:
    return sorted(client.get("/openapi.json").json()["paths"])


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_doc_pages_reference_only_assets_the_backend_serves(
    client: httpx.Client, page: str
) -> None:
    html = client.get(page).text
    urls = re.findall(r"""(?:src|href|url)\s*[=:(]\s*['"]([^'"]+)['"]""", html)
    assert urls, html
    for url in urls:
        assert url.startswith("/"), f"{page} loads {url} from elsewhere"
        assert client.get(url).status_code == 200, url
    assert "cdn." not in html and "fonts.googleapis" not in html
    assert (
        client.get(f"{ASSETS_URL}/swagger/swagger-ui-bundle.js")
        .headers["content-type"]
        .startswith(("application/javascript", "text/javascript"))
    )


def test_docs_render_every_route_in_chromium_with_the_network_off(
    client: httpx.Client, tmp_path: Path
) -> None:
    base = str(client.base_url).rstrip("/")
    paths = api_paths(client)
    assert {"/health", "/frames", "/frames/{frame_id}", "/vehicles"} <= set(paths)
    with offline_page() as offline:
        page = offline.page
        page.goto(f"{base}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=30_000)
        shown = page.locator(".opblock-summary-path").all_inner_texts()
        assert sorted({s.replace("\u200b", "") for s in shown}) == paths
        assert "Longtail backend" in page.locator(".info .title").inner_text()
        screenshot = tmp_path / "api_docs.png"
        page.screenshot(path=str(screenshot))  # the first screenful: title and the first routes
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        page.goto(f"{base}/redoc")
        page.wait_for_selector("redoc-wrap, .api-content, [role=navigation]", timeout=30_000)
        page.get_by_text("One frame with its detections; 404 if it is not stored.").first.wait_for(
            timeout=30_000
        )
        assert offline.blocked == [], f"requests off this machine: {offline.blocked}"
    if os.environ.get("LONGTAIL_WRITE_DOCS_IMAGES"):
        shutil.copyfile(screenshot, DOCS_IMAGE)


def test_only_loopback_counts_as_local() -> None:
    assert is_loopback("http://127.0.0.1:8080/docs") and is_loopback("http://[::1]/x")
    assert is_loopback("data:image/png;base64,AAAA") and is_loopback("http://localhost/")
    assert not is_loopback("https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css")
    assert not is_loopback("http://10.0.0.5/") and not is_loopback("https://fonts.gstatic.com/")
