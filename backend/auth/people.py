"""Creating people, issuing their tokens, logging in and authenticating a request.

Every function takes the database and a clock; the API and the CLI call these, never the
repository directly, so the rules (valid names and roles, password length, token lifetime,
disabled accounts) hold whichever door a request comes through.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backend.auth.passwords import MIN_LENGTH, hash_password, verify_password
from backend.auth.roles import LABELLING_ROLES, Permission, Role, allows
from backend.auth.tokens import hash_token, new_token, same_hash
from backend.errors import AuthenticationError, InvalidInputError, PermissionDeniedError
from backend.metadata.unit_of_work import Database

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Principal:
    """The authenticated person behind a request."""

    name: str
    role: Role
    calibration: str

    def require(self, permission: Permission) -> None:
        """PermissionDeniedError unless this person's role holds ``permission``."""
        if not allows(self.role, permission):
            raise PermissionDeniedError(
                f"{self.name} ({self.role}) may not {permission.value.replace('_', ' ')}"
            )


def utcnow() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def parse_role(text: str) -> Role:
    """The role named ``text``; InvalidInputError lists the roles."""
    try:
        return Role(text)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise InvalidInputError(f"role {text!r} is not one of {known}") from None


class People:
    """Users, tokens and authentication over one database."""

    def __init__(
        self,
        db: Database,
        *,
        token_ttl: timedelta = timedelta(hours=12),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._ttl = token_ttl
        self._clock = clock

    def create(self, name: str, role: str, password: str | None = None) -> str:
        """Create a person and return a first API token (shown once; it does not expire)."""
        if not _NAME_RE.match(name):
            raise InvalidInputError(
                f"user name {name!r} is invalid: 1-64 of [a-z0-9._-], starting alphanumeric"
            )
        parsed = parse_role(role)
        if password is not None and len(password) < MIN_LENGTH:
            raise InvalidInputError(f"password of {name!r} is shorter than {MIN_LENGTH} characters")
        now = self._clock()
        token = new_token()
        calibration = "pending" if parsed in LABELLING_ROLES else "exempt"
        with self._db.transaction(f"create user {name!r}") as uow:
            uow.people.add(
                name,
                parsed.value,
                None if password is None else hash_password(password),
                calibration,
                now,
            )
            uow.people.add_token(name, hash_token(token), "created", now, None)
        log.info("created user %s (%s)", name, parsed.value)
        return token

    def issue_token(self, name: str, label: str, ttl: timedelta | None = None) -> str:
        """A new token for ``name`` expiring after ``ttl`` (the default lifetime if None)."""
        now = self._clock()
        token = new_token()
        with self._db.transaction(f"issue a token to {name!r}") as uow:
            uow.people.require(name)
            uow.people.add_token(name, hash_token(token), label, now, now + (ttl or self._ttl))
        return token

    def login(self, name: str, password: str) -> tuple[str, datetime]:
        """A session token for a correct password; AuthenticationError otherwise (the same
        message whether the name or the password was wrong)."""
        with self._db.transaction(f"look up user {name!r}") as uow:
            stored = uow.people.password_hash(name)
        if stored is None or not verify_password(stored, password):
            raise AuthenticationError("unknown user or wrong password")
        token = self.issue_token(name, "login")
        return token, self._clock() + self._ttl

    def logout(self, token: str) -> None:
        """Revoke the token (idempotent)."""
        with self._db.transaction("revoke a token") as uow:
            uow.people.revoke_token(hash_token(token), self._clock())

    def authenticate(self, token: str) -> Principal:
        """The person a bearer token belongs to; AuthenticationError if it is unknown,
        revoked or expired, or the person is disabled."""
        presented = hash_token(token)
        with self._db.transaction("authenticate a token") as uow:
            found = uow.people.by_token_hash(presented)
        if found is None or not same_hash(found[1], presented):
            raise AuthenticationError("unknown token")
        record, _, user = found
        now = self._clock()
        if record.revoked_at is not None:
            raise AuthenticationError(f"token of {user.name!r} was revoked at {record.revoked_at}")
        if record.expires_at is not None and record.expires_at <= now:
            raise AuthenticationError(f"token of {user.name!r} expired at {record.expires_at}")
        if user.disabled_at is not None:
            raise AuthenticationError(f"user {user.name!r} is disabled")
        return Principal(user.name, Role(user.role), user.calibration)

    def disable(self, name: str) -> None:
        """Disable a person and revoke every token of theirs."""
        with self._db.transaction(f"disable user {name!r}") as uow:
            uow.people.disable(name, self._clock())
