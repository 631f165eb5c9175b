"""Dependencies of the routes: the repository comes from the app's state, set by create_app."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from backend.metadata.repository import MetadataRepository


def get_repo(request: Request) -> MetadataRepository:
    """The metadata repository the app was created with."""
    return cast(MetadataRepository, request.app.state.repo)


RepoDep = Annotated[MetadataRepository, Depends(get_repo)]
