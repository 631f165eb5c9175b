"""Delivers due webhook deliveries from the outbox: POST with signature headers, retried with
exponential backoff (full jitter) until ``max_attempts``; a 2xx answer marks a delivery done.

The outbox row is written in the same transaction as the event's cause, and a delivery is
marked only after its POST finished, so a crash between the two repeats a delivery rather
than losing it (receivers de-duplicate on ``X-Longtail-Delivery``).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from backend.config import WebhookConfig
from backend.metadata.repositories.webhooks import DeliveryRecord
from backend.metadata.unit_of_work import Database
from backend.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature

log = logging.getLogger(__name__)


def backoff_s(attempt: int, config: WebhookConfig, rng: random.Random) -> float:
    """Seconds before attempt ``attempt + 1``: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0.0, min(config.backoff_cap_s, config.backoff_base_s * 2.0**attempt))


class Dispatcher:
    """One pass over the due deliveries per :meth:`run_once`."""

    def __init__(
        self,
        db: Database,
        config: WebhookConfig,
        client: httpx.Client,
        clock: Callable[[], datetime],
        rng: random.Random,
    ) -> None:
        self._db = db
        self._config = config
        self._client = client
        self._clock = clock
        self._rng = rng

    def run_once(self) -> int:
        """Attempt every due delivery once; returns how many were delivered."""
        with self._db.transaction("find due webhook deliveries") as uow:
            due = uow.webhooks.due(self._clock())
        return sum(self._attempt(d) for d in due)

    def _attempt(self, delivery: DeliveryRecord) -> bool:
        now = self._clock()
        body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
        stamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            "X-Longtail-Event": delivery.event,
            "X-Longtail-Delivery": str(delivery.id),
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: signature(delivery.secret, stamp, body),
        }
        error: str | None = None
        try:
            response = self._client.post(
                delivery.url, content=body, headers=headers, timeout=self._config.timeout_s
            )
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempts = delivery.attempts + 1
        with self._db.transaction(f"record webhook delivery {delivery.id}") as uow:
            if error is None:
                uow.webhooks.mark(
                    delivery.id, state="delivered", attempts=attempts, delivered_at=now
                )
                return True
            failed = attempts >= self._config.max_attempts
            uow.webhooks.mark(
                delivery.id,
                state="failed" if failed else "pending",
                attempts=attempts,
                last_error=error,
                next_attempt_at=now
                + timedelta(seconds=backoff_s(attempts, self._config, self._rng)),
            )
        log.warning(
            "webhook delivery %d of %s to %s failed (attempt %d%s): %s",
            delivery.id,
            delivery.event,
            delivery.url,
            attempts,
            ", giving up" if failed else "",
            error,
        )
        return False
