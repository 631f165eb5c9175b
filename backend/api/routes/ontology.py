"""``/ontology``: the classes and attributes labels may use, versioned; review reason codes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from backend.annotation import store
from backend.annotation.workflow import REASON_CODES
from backend.api.deps import CurrentUser, DbDep, require
from backend.auth.people import Principal
from backend.auth.roles import Permission
from backend.metadata.models.base import ID_MAX

router = APIRouter(prefix="/ontology", tags=["annotation"])


class OntologyOut(BaseModel):
    version: int
    document: dict[str, Any]
    review_reasons: list[str]


class NewClassIn(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    group: Literal["known", "rare", "unknown", "stuff"]


def _out(document: dict[str, Any]) -> OntologyOut:
    return OntologyOut(
        version=int(document["version"]), document=document, review_reasons=list(REASON_CODES)
    )


@router.get("", response_model=OntologyOut)
def current(_who: CurrentUser, db: DbDep) -> OntologyOut:
    """The newest ontology."""
    with db.transaction("read the ontology") as uow:
        return _out(store.ontology(uow).document())


@router.get("/{version}", response_model=OntologyOut)
def by_version(
    version: Annotated[int, Path(ge=1, le=ID_MAX, description="the ontology version")],
    _who: CurrentUser,
    db: DbDep,
) -> OntologyOut:
    """One version (tasks record the version they were labelled under)."""
    with db.transaction(f"read ontology v{version}") as uow:
        return _out(store.ontology(uow, version).document())


@router.post("/classes", response_model=OntologyOut, status_code=201)
def add_class(
    body: NewClassIn,
    who: Annotated[Principal, Depends(require(Permission.MANAGE_ONTOLOGY))],
    db: DbDep,
) -> OntologyOut:
    """A new version with one more class (a promoted rare class, a new surface)."""
    from backend.auth.people import utcnow

    now = utcnow()
    with db.transaction("add an ontology class") as uow:
        latest = store.ontology(uow)
        grown = latest.with_class(body.name, body.group)
        uow.ontologies.add(grown.version, grown.document(), who.name, now)
        uow.audit.record(
            now, who.name, "ontology.grown", details={"version": grown.version, "class": body.name}
        )
        return _out(grown.document())
