"""One transaction over the metadata database, with a repository per aggregate.

::

    db = Database(make_engine(url))
    with db.transaction("register vehicle car-7") as uow:
        uow.vehicles.add(...)
        uow.frames.get(...)
    # committed here; rolled back if the block raised

Repositories never commit; the unit of work does, once, so what one request changes is stored
together or not at all. Database outages (connection refused, timeouts, a locked file) become a
retryable ``StorageError`` naming the action; constraint violations (``IntegrityError``) pass
through to the caller, which knows what a duplicate means. A value the database refuses as data
(``DataError``, SQL class 22: a NUL character in text on PostgreSQL, a number out of a column's
range) is the request's fault, not an outage: ``InvalidInputError`` naming the action and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from backend.errors import InvalidInputError, StorageError
from backend.metadata.repositories.assignments import AssignmentRepository
from backend.metadata.repositories.audit import AuditRepository
from backend.metadata.repositories.datasets import DatasetRepository
from backend.metadata.repositories.evidence import EvidenceRepository
from backend.metadata.repositories.frames import FrameRepository
from backend.metadata.repositories.label_sets import LabelSetRepository
from backend.metadata.repositories.model_versions import ModelVersionRepository
from backend.metadata.repositories.ontologies import OntologyRepository
from backend.metadata.repositories.people import PeopleRepository
from backend.metadata.repositories.reviews import ReviewRepository, VoteRepository
from backend.metadata.repositories.rollouts import RolloutRepository
from backend.metadata.repositories.safety import SafetyRepository
from backend.metadata.repositories.task_scores import TaskScoreRepository
from backend.metadata.repositories.tasks import TaskRepository
from backend.metadata.repositories.training_runs import TrainingRunRepository
from backend.metadata.repositories.vehicles import VehicleRepository
from backend.metadata.repositories.webhooks import WebhookRepository


class UnitOfWork:
    """The repositories of one transaction; built by :meth:`Database.transaction`."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.vehicles = VehicleRepository(session)
        self.frames = FrameRepository(session)
        self.people = PeopleRepository(session)
        self.ontologies = OntologyRepository(session)
        self.tasks = TaskRepository(session)
        self.assignments = AssignmentRepository(session)
        self.label_sets = LabelSetRepository(session)
        self.reviews = ReviewRepository(session)
        self.votes = VoteRepository(session)
        self.audit = AuditRepository(session)
        self.webhooks = WebhookRepository(session)
        self.datasets = DatasetRepository(session)
        self.models = ModelVersionRepository(session)
        self.rollouts = RolloutRepository(session)
        self.evidence = EvidenceRepository(session)
        self.safety = SafetyRepository(session)
        self.training_runs = TrainingRunRepository(session)
        self.task_scores = TaskScoreRepository(session)


class Database:
    """The metadata database: its engine, sessions and the translation of outages."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        """The database URL without its password (for logs and errors)."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self, action: str) -> Iterator[UnitOfWork]:
        """A unit of work committed when the block ends; ``action`` names it in errors."""
        try:
            with self._sessions.begin() as session:
                yield UnitOfWork(session)
        except IntegrityError:
            raise
        except DataError as exc:
            raise InvalidInputError(
                f"the metadata database refused a value to {action}: {exc.orig}"
            ) from exc
        except (OperationalError, DBAPIError) as exc:
            raise StorageError(
                f"metadata database {self.url} failed to {action}: {exc}", retryable=True
            ) from exc

    def ping(self) -> None:
        """Run a trivial query; a retryable StorageError if the database is unreachable."""
        with self.transaction("answer a ping") as uow:
            uow.session.execute(select(1))

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()
