"""The declarative base every metadata table derives from."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

#: the largest id or version a row can hold: those columns are ``Integer``, 32-bit signed on
#: PostgreSQL (64-bit on SQLite); a larger number can name no row and must be refused before SQL
ID_MAX = 2**31 - 1


class Base(DeclarativeBase):
    """Declarative base of every metadata table."""
