"""Password hashing with argon2id (``argon2-cffi``'s defaults: RFC 9106 low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

#: the shortest password accepted
MIN_LENGTH = 10


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (salted; the string records its parameters)."""
    return PasswordHasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (False for a malformed hash too)."""
    try:
        return PasswordHasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False
