"""Alembic environment: runs online against the connection passed in ``config.attributes``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from backend.metadata.models import Base

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through backend.metadata.migrate.upgrade(engine)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
