"""Bearer tokens (of vehicles and of people): random 32-byte secrets, stored only as SHA-256.

A token is looked up by its hash (an index hit), then the stored hash is compared with
:func:`hmac.compare_digest`. Hashing a 256-bit random secret needs no salt or slow KDF: there is
nothing to brute-force (passwords, which people choose, use argon2: ``passwords``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32


def new_token() -> str:
    """A fresh random bearer token (URL-safe text, 256 bits of entropy)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token: what the database stores."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_hash(stored: str, presented: str) -> bool:
    """Constant-time comparison of two token hashes."""
    return hmac.compare_digest(stored, presented)
