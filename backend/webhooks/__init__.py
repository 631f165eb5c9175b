"""Webhooks: events of the loop (``backend.annotation.store.EVENTS``) delivered to subscribers
as HMAC-signed POSTs, from a transactional outbox, retried with exponential backoff."""
