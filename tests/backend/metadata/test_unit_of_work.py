"""The unit of work: one commit for everything a block did, nothing when it raised, and a
retryable StorageError naming the action when the database is down; a value the database
refuses as data (a NUL in text on PostgreSQL, an integer past a column) is InvalidInputError."""

from __future__ import annotations

import pytest

from backend.errors import InvalidInputError, StorageError
from backend.metadata.db import make_engine
from backend.metadata.unit_of_work import Database
from tests.backend.metadata.records import frame


def test_a_block_that_raises_stores_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction("t") as uow:
        uow.vehicles.add("car-1", "a" * 64)
        uow.frames.add(frame(1))
        uow.session.flush()  # the rows reached the database inside the transaction
        raise RuntimeError("the request failed half-way")
    with db.transaction("t") as uow:
        assert uow.vehicles.list() == [] and uow.frames.count() == 0


def test_an_unreachable_database_is_a_retryable_storage_error() -> None:
    db = Database(make_engine("postgresql+psycopg://postgres@127.0.0.1:1/nope?connect_timeout=2"))
    try:
        expected = pytest.raises(StorageError, match=r"127\.0\.0\.1:1.*look up frame")
        with expected as info, db.transaction("look up frame") as uow:
            uow.frames.exists("0" * 64)
        assert info.value.retryable
        with pytest.raises(StorageError, match="answer a ping"):
            db.ping()
    finally:
        db.close()


def test_a_value_postgresql_refuses_is_invalid_input_not_an_outage(postgres_db_url: str) -> None:
    db = Database(make_engine(postgres_db_url))  # SQLite stores NUL and 64-bit integers
    try:
        with db.transaction("t") as uow:
            uow.vehicles.add("car-1", "a" * 64)
        nul = pytest.raises(InvalidInputError, match=r"to read the audit log: .*NUL")
        with nul as info, db.transaction("read the audit log") as uow:
            uow.audit.list(actor="a\x00b")
        assert not isinstance(info.value, StorageError)
        wide = pytest.raises(InvalidInputError, match=r"to read task 2\*\*31: .*out of range")
        with wide, db.transaction("read task 2**31") as uow:
            uow.tasks.get(2**31)
        with db.transaction("t") as uow:  # nothing else was disturbed
            assert [v.name for v in uow.vehicles.list()] == ["car-1"]
    finally:
        db.close()
