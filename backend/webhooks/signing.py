"""The signature of a webhook delivery, for senders and receivers alike.

Headers of every delivery::

    X-Longtail-Event:      label.accepted
    X-Longtail-Delivery:   1234                    (unique per delivery; retries repeat it)
    X-Longtail-Timestamp:  1733390000              (Unix seconds when this attempt was signed)
    X-Longtail-Signature:  sha256=<hex>            (HMAC-SHA256 under the subscriber's secret of
                                                    "<timestamp>.<raw body>")

A receiver recomputes the HMAC over the timestamp and the raw body, compares in constant time,
and refuses timestamps too far from its clock (replays).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Longtail-Signature"
TIMESTAMP_HEADER = "X-Longtail-Timestamp"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, "<timestamp>.<body>")."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, timestamp: int, body: bytes, presented: str, *, now: int, tolerance_s: int = 300
) -> bool:
    """Whether ``presented`` signs ``body`` at ``timestamp`` and the timestamp is recent."""
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), presented)
