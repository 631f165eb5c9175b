"""Metadata fixtures for backend tests: ``db`` runs a test on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from backend.metadata.db import make_engine
from backend.metadata.migrate import upgrade
from backend.metadata.models import Base
from backend.metadata.unit_of_work import Database


@pytest.fixture(scope="session")
def migrated_postgres(postgres_url: str) -> Iterator[Engine]:
    """The session's PostgreSQL database, migrated to head once."""
    engine = make_engine(postgres_url)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def empty_database(engine: Engine) -> None:
    """Delete every row of every table (the schema stays)."""
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f"DELETE FROM {table.name}"))


@pytest.fixture
def postgres_db_url(migrated_postgres: Engine) -> Iterator[str]:
    """The session's migrated PostgreSQL database, emptied before and after the test."""
    empty_database(migrated_postgres)
    yield migrated_postgres.url.render_as_string(hide_password=False)
    empty_database(migrated_postgres)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database URL: a SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    else:
        yield request.getfixturevalue("postgres_db_url")


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """An empty, migrated database of each kind."""
    database = Database(make_engine(db_url))
    try:
        yield database
    finally:
        database.close()
