"""People (users with a role) and their API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import ConflictError, NotFoundError
from backend.metadata.models.people import ApiToken, User
from backend.metadata.records import utc


class UserExistsError(ConflictError):
    """A user with that name already exists."""


class UnknownUserError(NotFoundError):
    """No user with that name exists."""


@dataclass(frozen=True)
class UserRecord:
    """A person (never their password hash)."""

    name: str
    role: str
    calibration: str
    created_at: datetime
    disabled_at: datetime | None
    has_password: bool


@dataclass(frozen=True)
class TokenRecord:
    """An API token's facts (never the token)."""

    user: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def _user(row: User) -> UserRecord:
    return UserRecord(
        name=row.name,
        role=row.role,
        calibration=row.calibration,
        created_at=utc(row.created_at),
        disabled_at=None if row.disabled_at is None else utc(row.disabled_at),
        has_password=row.password_hash is not None,
    )


def _token(row: ApiToken) -> TokenRecord:
    return TokenRecord(
        user=row.user,
        label=row.label,
        created_at=utc(row.created_at),
        expires_at=None if row.expires_at is None else utc(row.expires_at),
        revoked_at=None if row.revoked_at is None else utc(row.revoked_at),
    )


class PeopleRepository:
    """Users and tokens in one unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self, name: str, role: str, password_hash: str | None, calibration: str, now: datetime
    ) -> UserRecord:
        """Create a user; UserExistsError if the name is taken."""
        if self._session.get(User, name) is not None:
            raise UserExistsError(f"user {name!r} already exists")
        row = User(
            name=name,
            role=role,
            password_hash=password_hash,
            calibration=calibration,
            created_at=now,
        )
        self._session.add(row)
        self._session.flush()  # before any token row refers to it
        return _user(row)

    def get(self, name: str) -> UserRecord | None:
        """The user, or None."""
        row = self._session.get(User, name)
        return None if row is None else _user(row)

    def require(self, name: str) -> UserRecord:
        """The user; UnknownUserError if there is none."""
        found = self.get(name)
        if found is None:
            raise UnknownUserError(f"no user named {name!r}")
        return found

    def password_hash(self, name: str) -> str | None:
        """The stored argon2 hash of an enabled user's password, or None."""
        row = self._session.get(User, name)
        return None if row is None or row.disabled_at is not None else row.password_hash

    def list(self) -> list[UserRecord]:
        """Every user, by name."""
        return [_user(r) for r in self._session.scalars(select(User).order_by(User.name))]

    def set_calibration(self, name: str, state: str) -> None:
        """Record a user's calibration state."""
        row = self._session.get(User, name)
        if row is None:
            raise UnknownUserError(f"no user named {name!r}")
        row.calibration = state

    def disable(self, name: str, now: datetime) -> UserRecord:
        """Disable a user (idempotent) and revoke their tokens."""
        row = self._session.get(User, name)
        if row is None:
            raise UnknownUserError(f"no user named {name!r}")
        if row.disabled_at is None:
            row.disabled_at = now
        for token in self._session.scalars(select(ApiToken).where(ApiToken.user == name)):
            if token.revoked_at is None:
                token.revoked_at = now
        return _user(row)

    def add_token(
        self, user: str, token_hash: str, label: str, now: datetime, expires_at: datetime | None
    ) -> TokenRecord:
        """Store the hash of a new token of ``user``."""
        row = ApiToken(
            token_hash=token_hash, user=user, label=label, created_at=now, expires_at=expires_at
        )
        self._session.add(row)
        return _token(row)

    def by_token_hash(self, token_hash: str) -> tuple[TokenRecord, str, UserRecord] | None:
        """The token with that hash, its stored hash and its user; None if unknown."""
        row = self._session.get(ApiToken, token_hash)
        if row is None:
            return None
        user = self._session.get(User, row.user)
        assert user is not None  # foreign key
        return _token(row), row.token_hash, _user(user)

    def revoke_token(self, token_hash: str, now: datetime) -> None:
        """Revoke a token (idempotent)."""
        row = self._session.get(ApiToken, token_hash)
        if row is not None and row.revoked_at is None:
            row.revoked_at = now
