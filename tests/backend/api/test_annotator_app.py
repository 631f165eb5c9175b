"""The API process serves the built labelling tool at ``/app`` on its own origin, and a clear
503 (not a blank page) where the tool has not been built."""

from __future__ import annotations

from pathlib import Path

from backend.api.annotator_app import APP_URL, DEFAULT_DIST
from backend.api.app import create_app
from backend.wiring import build_api, build_backend, local_config
from tests.fixtures.http import serve


def test_the_built_app_is_served_at_app(tmp_path: Path) -> None:
    assert (DEFAULT_DIST / "index.html").is_file(), "run `make setup` (builds annotator/)"
    backend = build_backend(local_config(tmp_path))
    try:
        with serve(build_api(backend)) as client:
            assert client.get(APP_URL).headers.get("location") == f"{APP_URL}/"
            page = client.get(f"{APP_URL}/")
            assert page.status_code == 200 and "Longtail labelling" in page.text
            assert f'src="{APP_URL}/assets/' in page.text  # built for this path
            assets = [p.name for p in (DEFAULT_DIST / "assets").iterdir()]
            for name in assets:
                assert client.get(f"{APP_URL}/assets/{name}").status_code == 200, name
            # the API is on the same origin and still wants a token
            assert client.get("/auth/me").status_code == 401
    finally:
        backend.close()


def test_an_unbuilt_app_answers_503_with_the_fix(tmp_path: Path) -> None:
    backend = build_backend(local_config(tmp_path))
    try:
        app = create_app(build_api(backend).state.services, annotator_dist=tmp_path / "nothing")
        with serve(app) as client:
            response = client.get(f"{APP_URL}/")
        assert response.status_code == 503 and "make setup" in response.text
    finally:
        backend.close()
