"""Webhook subscriptions and their outbox of deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import NotFoundError
from backend.metadata.models.webhooks import Webhook, WebhookDelivery
from backend.metadata.records import utc


@dataclass(frozen=True)
class WebhookRecord:
    """A subscription (its secret is never part of a record that leaves the backend)."""

    id: int
    url: str
    events: list[str]
    created_by: str
    created_at: datetime
    active: bool


@dataclass(frozen=True)
class DeliveryRecord:
    """One delivery of one event to one subscriber, with what is needed to send it."""

    id: int
    webhook_id: int
    url: str
    secret: str
    event: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None


def _hook(row: Webhook) -> WebhookRecord:
    return WebhookRecord(
        row.id, row.url, list(row.events), row.created_by, utc(row.created_at), row.active
    )


class WebhookRepository:
    """Webhooks and deliveries in one unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self, url: str, secret: str, events: list[str], author: str, now: datetime
    ) -> WebhookRecord:
        row = Webhook(
            url=url, secret=secret, events=events, created_by=author, created_at=now, active=True
        )
        self._session.add(row)
        self._session.flush()
        return _hook(row)

    def subscriptions(self) -> list[WebhookRecord]:
        return [_hook(r) for r in self._session.scalars(select(Webhook).order_by(Webhook.id))]

    def deactivate(self, webhook_id: int) -> None:
        row = self._session.get(Webhook, webhook_id)
        if row is None:
            raise NotFoundError(f"no webhook with id {webhook_id}")
        row.active = False

    def enqueue(self, event: str, payload: dict[str, Any], now: datetime) -> int:
        """A pending delivery of ``event`` for every active subscriber of it; returns how many."""
        hooks = self._session.scalars(select(Webhook).where(Webhook.active.is_(True))).all()
        count = 0
        for hook in hooks:
            if event in hook.events or "*" in hook.events:
                self._session.add(
                    WebhookDelivery(
                        webhook_id=hook.id,
                        event=event,
                        payload=payload,
                        created_at=now,
                        state="pending",
                        attempts=0,
                        next_attempt_at=now,
                    )
                )
                count += 1
        return count

    def due(self, now: datetime, limit: int = 50) -> list[DeliveryRecord]:
        """Pending deliveries whose next attempt is due, oldest first."""
        stmt = (
            select(WebhookDelivery, Webhook)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.id)
            .limit(limit)
        )
        return [self._delivery(d, h) for d, h in self._session.execute(stmt).all()]

    def deliveries(self, webhook_id: int | None = None) -> list[DeliveryRecord]:
        stmt = select(WebhookDelivery, Webhook).join(
            Webhook, Webhook.id == WebhookDelivery.webhook_id
        )
        if webhook_id is not None:
            stmt = stmt.where(WebhookDelivery.webhook_id == webhook_id)
        rows = self._session.execute(stmt.order_by(WebhookDelivery.id)).all()
        return [self._delivery(d, h) for d, h in rows]

    def mark(self, delivery_id: int, **values: Any) -> None:
        row = self._session.get(WebhookDelivery, delivery_id)
        if row is None:
            raise NotFoundError(f"no webhook delivery with id {delivery_id}")
        for key, value in values.items():
            setattr(row, key, value)

    @staticmethod
    def _delivery(d: WebhookDelivery, h: Webhook) -> DeliveryRecord:
        return DeliveryRecord(
            id=d.id,
            webhook_id=d.webhook_id,
            url=h.url,
            secret=h.secret,
            event=d.event,
            payload=dict(d.payload),
            state=d.state,
            attempts=d.attempts,
            next_attempt_at=utc(d.next_attempt_at),
            delivered_at=None if d.delivered_at is None else utc(d.delivered_at),
            last_error=d.last_error,
        )
