"""One mapping from the backend's errors to HTTP answers, installed on the app by create_app.

Every refusal is a JSON body ``{"detail": "..."}`` whose message names what is wrong; a stale
save also carries ``current_version``. An empty queue is ``204 No Content`` with the reason in the
``X-Longtail-Reason`` header. Nothing here ever answers 500 for a user's mistake.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from backend.errors import (
    AuthenticationError,
    BackendError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    StaleVersionError,
    StorageError,
    UnavailableError,
)

log = logging.getLogger(__name__)

#: the HTTP status of each error class (the first match in this order wins)
STATUS: tuple[tuple[type[BackendError], int], ...] = (
    (StaleVersionError, 409),
    (ConflictError, 409),
    (InvalidInputError, 422),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (StorageError, 503),
)


class ErrorOut(BaseModel):
    """A refusal: what is wrong, named."""

    detail: str
    current_version: int | None = Field(
        default=None, description="a stale save (409): the label set's version now"
    )


class FieldErrorOut(BaseModel):
    """One field of a request that does not fit the operation's schema."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    """A request that does not fit the operation's schema, field by field."""

    detail: list[FieldErrorOut]


#: the answers every operation may give besides its own (``FastAPI(responses=...)``): any
#: refusal above as ``ErrorOut``; a 422 is either that or FastAPI's field-by-field validation
#: error; 503 when the metadata or blob store is down
RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorOut, "description": "refused: the detail names what is wrong"},
    422: {
        "model": ErrorOut | ValidationErrorOut,
        "description": "a field breaks a rule, or the request does not fit the schema",
    },
    503: {"model": ErrorOut, "description": "a store is unreachable; try again"},
}


def status_of(exc: BackendError) -> int:
    """The HTTP status for ``exc`` (500 for an error with no user-facing meaning)."""
    for kind, status in STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def install(app: FastAPI) -> None:
    """Answer every BackendError with its status and message."""

    @app.exception_handler(BackendError)
    async def backend_error(request: Request, exc: BackendError) -> Response:
        if isinstance(exc, UnavailableError):  # an empty queue is an answer, not an error
            return Response(status_code=204, headers={"X-Longtail-Reason": str(exc)[:512]})
        status = status_of(exc)
        body: dict[str, object] = {"detail": str(exc)}
        headers: dict[str, str] = {}
        if isinstance(exc, StaleVersionError):
            body["current_version"] = exc.current_version
        if isinstance(exc, AuthenticationError):
            headers["WWW-Authenticate"] = "Bearer"
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return JSONResponse(status_code=status, content=body, headers=headers)
