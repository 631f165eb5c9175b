"""Run the Alembic migrations shipped inside the package (no alembic.ini needed)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` to ``revision`` (idempotent).

    Quiet unless something happens: Alembic's progress lines are shown only when the process
    logs at DEBUG (``longtail -v``); an actual upgrade is logged once at INFO."""
    config = alembic_config()
    with _alembic_quiet_unless_debug(), engine.begin() as connection:
        before = MigrationContext.configure(connection).get_current_revision()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        after = MigrationContext.configure(connection).get_current_revision()
    url = engine.url.render_as_string(hide_password=True)
    if before != after:
        log.info("metadata schema of %s upgraded from %s to %s", url, before or "empty", after)
    else:
        log.debug("metadata schema of %s is at %s", url, after)


@contextmanager
def _alembic_quiet_unless_debug() -> Iterator[None]:
    # Alembic reports every context and step at INFO; that is debugging detail for an operator.
    logger = logging.getLogger("alembic")
    if logger.getEffectiveLevel() <= logging.DEBUG:
        yield
        return
    previous = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(previous)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with _alembic_quiet_unless_debug(), engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this package."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
