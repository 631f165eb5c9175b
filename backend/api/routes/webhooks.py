"""``/webhooks``: subscribe a URL to the loop's events (admins); inspect deliveries."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, HttpUrl

from backend.annotation.store import EVENTS
from backend.api.deps import DbDep, WebhookId, require
from backend.auth.people import Principal, utcnow
from backend.auth.roles import Permission
from backend.errors import InvalidInputError

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

Admin = Annotated[Principal, Depends(require(Permission.MANAGE_WEBHOOKS))]


class WebhookIn(BaseModel):
    url: HttpUrl
    events: list[str] = Field(min_length=1, description=f"any of {', '.join(EVENTS)}, or '*'")
    secret: str | None = Field(default=None, min_length=16, max_length=128)


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    created_by: str
    created_at: datetime
    active: bool


class CreatedWebhookOut(WebhookOut):
    secret: str = Field(description="the HMAC key, shown once")


class DeliveryOut(BaseModel):
    id: int
    event: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None


@router.post("", response_model=CreatedWebhookOut, status_code=201)
def subscribe(body: WebhookIn, who: Admin, db: DbDep) -> CreatedWebhookOut:
    """Subscribe ``url`` to ``events``; deliveries are signed with the returned secret."""
    unknown = [e for e in body.events if e != "*" and e not in EVENTS]
    if unknown:
        raise InvalidInputError(f"events {unknown} are not among {', '.join(EVENTS)}")
    secret = body.secret or secrets.token_urlsafe(32)
    with db.transaction("subscribe a webhook") as uow:
        hook = uow.webhooks.add(str(body.url), secret, body.events, who.name, utcnow())
    return CreatedWebhookOut(secret=secret, **hook.__dict__)


@router.get("", response_model=list[WebhookOut])
def subscriptions(_who: Admin, db: DbDep) -> list[WebhookOut]:
    with db.transaction("list webhooks") as uow:
        return [WebhookOut(**h.__dict__) for h in uow.webhooks.subscriptions()]


@router.delete("/{webhook_id}", status_code=204)
def unsubscribe(webhook_id: WebhookId, _who: Admin, db: DbDep) -> None:
    """Stop deliveries to a subscriber (its history stays)."""
    with db.transaction(f"deactivate webhook {webhook_id}") as uow:
        uow.webhooks.deactivate(webhook_id)


@router.get("/{webhook_id}/deliveries", response_model=list[DeliveryOut])
def deliveries(webhook_id: WebhookId, _who: Admin, db: DbDep) -> list[DeliveryOut]:
    with db.transaction(f"list deliveries of webhook {webhook_id}") as uow:
        return [
            DeliveryOut(
                id=d.id,
                event=d.event,
                payload=d.payload,
                state=d.state,
                attempts=d.attempts,
                next_attempt_at=d.next_attempt_at,
                delivered_at=d.delivered_at,
                last_error=d.last_error,
            )
            for d in uow.webhooks.deliveries(webhook_id)
        ]
