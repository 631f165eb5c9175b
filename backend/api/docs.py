"""The API's documentation pages, served entirely by the backend: no CDN, no web fonts.

FastAPI's own ``/docs`` (Swagger UI) and ``/redoc`` pages load their JavaScript and CSS from a
CDN, so on an offline or air-gapped machine (a vehicle depot, a secure labelling site) they are
blank. :func:`serve_docs_offline` replaces them with the same pages whose assets come from the
``fastapi-standalone-docs`` package (Swagger UI and ReDoc bundles, installed with the backend;
its ReDoc build asks for its logo beside the page instead of on Redocly's CDN), mounted under
:data:`ASSETS_URL`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute, Route

#: where the Swagger UI and ReDoc bundles are served
ASSETS_URL = "/docs-assets"

#: Swagger UI settings beyond FastAPI's: no online spec validator (it would call out)
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}


def assets_dir() -> Path:
    """The package's asset folder: ``swagger/`` (``swagger-ui-bundle.js``, ``swagger-ui.css``),
    ``redoc/`` (``redoc.standalone.js``, ``logo-mini.svg``) and ``fastapi/favicon.png``."""
    return Path(str(resources.files("fastapi_standalone_docs") / "static"))


def serve_docs_offline(app: FastAPI) -> None:
    """Serve ``app``'s ``/docs`` and ``/redoc`` (wherever ``app.docs_url`` and
    ``app.redoc_url`` put them) from local assets instead of FastAPI's CDN-backed pages."""
    docs_url, redoc_url, openapi_url = app.docs_url, app.redoc_url, app.openapi_url
    oauth2_url = app.swagger_ui_oauth2_redirect_url
    if openapi_url is None:
        return  # no schema, no docs
    replaced = {url for url in (docs_url, redoc_url, oauth2_url) if url is not None}
    app.router.routes[:] = [r for r in app.router.routes if not _serves(r, replaced)]
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
    parameters = {**(app.swagger_ui_parameters or {}), **SWAGGER_UI_PARAMETERS}
    favicon = f"{ASSETS_URL}/fastapi/favicon.png"

    if docs_url is not None:

        def swagger_ui() -> HTMLResponse:
            return get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{ASSETS_URL}/swagger/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSETS_URL}/swagger/swagger-ui.css",
                swagger_favicon_url=favicon,
                oauth2_redirect_url=oauth2_url,
                swagger_ui_parameters=parameters,
            )

        app.add_api_route(docs_url, swagger_ui, methods=["GET"], include_in_schema=False)
        if oauth2_url is not None:
            app.add_api_route(
                oauth2_url,
                get_swagger_ui_oauth2_redirect_html,
                methods=["GET"],
                include_in_schema=False,
            )

    if redoc_url is not None:

        def redoc() -> HTMLResponse:
            return get_redoc_html(
                openapi_url=openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{ASSETS_URL}/redoc/redoc.standalone.js",
                redoc_favicon_url=favicon,
                with_google_fonts=False,
            )

        def redoc_logo() -> FileResponse:
            return FileResponse(assets_dir() / "redoc" / "logo-mini.svg")

        app.add_api_route(redoc_url, redoc, methods=["GET"], include_in_schema=False)
        # this ReDoc build shows its logo from the page's own path, "<redoc_url>/logo-mini.svg"
        app.add_api_route(
            f"{redoc_url.rstrip('/')}/logo-mini.svg",
            redoc_logo,
            methods=["GET"],
            include_in_schema=False,
        )


def _serves(route: BaseRoute, paths: set[str]) -> bool:
    return isinstance(route, Route) and route.path in paths
