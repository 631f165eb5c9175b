"""What the routes depend on, injected per request from the app's state (set by ``create_app``).

Routes declare ``db: DbDep`` and get the one :class:`~backend.metadata.unit_of_work.Database`
of the process; nothing here is built at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request

from backend.metadata.unit_of_work import Database


@dataclass(frozen=True)
class ApiServices:
    """Everything the HTTP API needs, assembled by ``backend.wiring``."""

    db: Database


def get_services(request: Request) -> ApiServices:
    """The services the app was created with."""
    return cast(ApiServices, request.app.state.services)


def get_db(request: Request) -> Database:
    """The metadata database."""
    return get_services(request).db


DbDep = Annotated[Database, Depends(get_db)]
