"""The labelling tool (``annotator/``, built by ``npm run build`` into ``annotator/dist``), served
by the API process at :data:`APP_URL` on the same origin as the API.

The app is static files; everything it shows comes from the API with the person's bearer token,
so the login and the roles are the API's own (the app only hides what a role may not do). When
the app has not been built, :data:`APP_URL` answers 503 with the command that builds it instead
of a blank page.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

log = logging.getLogger(__name__)

#: where the app is served
APP_URL = "/app"

#: the build output of ``annotator/`` in a source checkout
DEFAULT_DIST = Path(__file__).resolve().parents[2] / "annotator" / "dist"


def serve_annotator(app: FastAPI, dist: Path | None = None) -> None:
    """Serve the built app from ``dist`` (default :data:`DEFAULT_DIST`) under :data:`APP_URL`."""
    folder = dist or DEFAULT_DIST

    def to_app() -> RedirectResponse:
        return RedirectResponse(f"{APP_URL}/")

    app.add_api_route(APP_URL, to_app, methods=["GET"], include_in_schema=False)
    if (folder / "index.html").is_file():
        app.mount(APP_URL, StaticFiles(directory=folder, html=True), name="annotator")
        return
    log.warning("the labelling tool is not built (%s missing): run `make setup`", folder)

    def not_built(rest: str = "") -> PlainTextResponse:
        return PlainTextResponse(
            f"the labelling tool is not built ({folder.name}/index.html is missing): "
            "run `make setup` (npm ci && npm run build in annotator/)",
            status_code=503,
        )

    app.add_api_route(
        f"{APP_URL}/{{rest:path}}", not_built, methods=["GET"], include_in_schema=False
    )
