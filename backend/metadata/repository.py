"""The metadata repository: every query the backend makes, behind one small class.

Database outages (connection refused, timeouts, locked files) raise a retryable StorageError so
the ingest answers UNAVAILABLE; constraint violations are handled where they mean something
(a duplicate frame is "already stored", a duplicate vehicle a user error).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine, exists, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from backend.errors import BackendError, StorageError
from backend.metadata.models import Detection, Frame, Vehicle
from backend.metadata.records import DetectionRecord, FrameFilter, FrameRecord, VehicleRecord

log = logging.getLogger(__name__)

#: the most rows one list call returns, whatever the caller asks
MAX_PAGE = 1000


class VehicleExistsError(BackendError):
    """A vehicle with that name is already registered."""


class UnknownVehicleError(BackendError):
    """No vehicle with that name is registered."""


def _utc(value: datetime) -> datetime:
    # SQLite returns naive datetimes even for timezone=True columns; they were stored as UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _vehicle_record(row: Vehicle) -> VehicleRecord:
    return VehicleRecord(
        name=row.name,
        created_at=_utc(row.created_at),
        revoked_at=None if row.revoked_at is None else _utc(row.revoked_at),
    )


def _frame_record(row: Frame) -> FrameRecord:
    return FrameRecord(
        id=row.id,
        vehicle=row.vehicle,
        captured_at_ns=row.captured_at_ns,
        received_at=_utc(row.received_at),
        pose=dict(row.pose),
        sensor_name=row.sensor_name,
        sensor_beams=row.sensor_beams,
        sensor_max_range_m=row.sensor_max_range_m,
        model_version=row.model_version,
        frame_scores=dict(row.frame_scores),
        rules_fired=list(row.rules_fired),
        priority=row.priority,
        blob_key=row.blob_key,
        payload_size=row.payload_size,
        num_points=row.num_points,
        encoding=row.encoding,
        quantization_step_m=row.quantization_step_m,
        detections=[
            DetectionRecord(
                class_name=d.class_name,
                confidence=d.confidence,
                box=(d.x, d.y, d.z, d.l, d.w, d.h, d.yaw),
                num_points=d.num_points,
                scores=dict(d.scores),
            )
            for d in row.detections
        ],
    )


class MetadataRepository:
    """Vehicles and frames in one SQL database; the engine is passed in and owned by the caller."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _session(self, action: str) -> Iterator[Session]:
        try:
            with self._sessions.begin() as session:
                yield session
        except IntegrityError:
            raise
        except (OperationalError, DBAPIError) as exc:
            url = self.engine.url.render_as_string(hide_password=True)
            raise StorageError(
                f"metadata database {url} failed to {action}: {exc}", retryable=True
            ) from exc

    # -- vehicles -----------------------------------------------------------------------------

    def add_vehicle(self, name: str, token_hash: str, now: datetime | None = None) -> VehicleRecord:
        """Register ``name`` with the hash of its token; VehicleExistsError if the name is taken."""
        row = Vehicle(name=name, token_hash=token_hash, created_at=now or datetime.now(UTC))
        try:
            with self._session(f"add vehicle {name!r}") as session:
                if session.get(Vehicle, name) is not None:
                    raise VehicleExistsError(f"vehicle {name!r} is already registered")
                session.add(row)
        except IntegrityError as exc:
            raise VehicleExistsError(
                f"vehicle {name!r} or its token is already registered"
            ) from exc
        return _vehicle_record(row)

    def revoke_vehicle(self, name: str, now: datetime | None = None) -> VehicleRecord:
        """Revoke the vehicle's token (idempotent); UnknownVehicleError if there is no such vehicle."""
        with self._session(f"revoke vehicle {name!r}") as session:
            row = session.get(Vehicle, name)
            if row is None:
                raise UnknownVehicleError(f"no vehicle named {name!r} is registered")
            if row.revoked_at is None:
                row.revoked_at = now or datetime.now(UTC)
            return _vehicle_record(row)

    def list_vehicles(self) -> list[VehicleRecord]:
        """Every registered vehicle, by name."""
        with self._session("list vehicles") as session:
            rows = session.scalars(select(Vehicle).order_by(Vehicle.name)).all()
            return [_vehicle_record(r) for r in rows]

    def vehicle_by_token_hash(self, token_hash: str) -> tuple[VehicleRecord, str] | None:
        """The vehicle whose token hashes to ``token_hash`` with its stored hash, or None."""
        with self._session("look up a token") as session:
            row = session.scalars(select(Vehicle).where(Vehicle.token_hash == token_hash)).first()
            return None if row is None else (_vehicle_record(row), row.token_hash)

    # -- frames -------------------------------------------------------------------------------

    def frame_exists(self, frame_id: str) -> bool:
        """Whether a frame with this id is stored."""
        with self._session(f"look up frame {frame_id}") as session:
            return bool(session.scalar(select(exists().where(Frame.id == frame_id))))

    def frame_payload_size(self, frame_id: str) -> int | None:
        """The payload size of a stored frame, or None if it is not stored."""
        with self._session(f"look up frame {frame_id}") as session:
            size = session.scalar(select(Frame.payload_size).where(Frame.id == frame_id))
            return None if size is None else int(size)

    def add_frame(self, record: FrameRecord) -> bool:
        """Insert a frame and its detections in one transaction.

        Returns False (and writes nothing) if a frame with that id is already stored, which is
        how two vehicles racing to upload the same payload end with one row.
        """
        row = Frame(
            id=record.id,
            vehicle=record.vehicle,
            captured_at_ns=record.captured_at_ns,
            received_at=record.received_at,
            pose=record.pose,
            sensor_name=record.sensor_name,
            sensor_beams=record.sensor_beams,
            sensor_max_range_m=record.sensor_max_range_m,
            model_version=record.model_version,
            frame_scores=record.frame_scores,
            rules_fired=record.rules_fired,
            priority=record.priority,
            blob_key=record.blob_key,
            payload_size=record.payload_size,
            num_points=record.num_points,
            encoding=record.encoding,
            quantization_step_m=record.quantization_step_m,
            detections=[
                Detection(
                    index=i,
                    class_name=d.class_name,
                    confidence=d.confidence,
                    x=d.box[0],
                    y=d.box[1],
                    z=d.box[2],
                    l=d.box[3],
                    w=d.box[4],
                    h=d.box[5],
                    yaw=d.box[6],
                    num_points=d.num_points,
                    scores=d.scores,
                )
                for i, d in enumerate(record.detections)
            ],
        )
        try:
            with self._session(f"insert frame {record.id}") as session:
                if session.get(Frame, record.id) is not None:
                    return False
                session.add(row)
        except IntegrityError:
            # Lost a race with a concurrent insert of the same id (primary key); anything else
            # (an unknown vehicle) is a real error.
            if self.frame_exists(record.id):
                return False
            raise
        return True

    def get_frame(self, frame_id: str) -> FrameRecord | None:
        """The frame with its detections, or None."""
        with self._session(f"read frame {frame_id}") as session:
            stmt = select(Frame).where(Frame.id == frame_id).options(selectinload(Frame.detections))
            row = session.scalars(stmt).first()
            return None if row is None else _frame_record(row)

    def list_frames(
        self, filters: FrameFilter, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[FrameRecord], int]:
        """One page of frames matching ``filters`` (highest priority, then newest first) and the
        total number of matches."""
        limit = max(0, min(limit, MAX_PAGE))
        conditions = []
        if filters.vehicle is not None:
            conditions.append(Frame.vehicle == filters.vehicle)
        if filters.captured_from_ns is not None:
            conditions.append(Frame.captured_at_ns >= filters.captured_from_ns)
        if filters.captured_to_ns is not None:
            conditions.append(Frame.captured_at_ns < filters.captured_to_ns)
        if filters.min_priority is not None:
            conditions.append(Frame.priority >= filters.min_priority)
        if filters.sensor_name is not None:
            conditions.append(Frame.sensor_name == filters.sensor_name)
        if filters.model_version is not None:
            conditions.append(Frame.model_version == filters.model_version)
        if filters.class_name is not None:
            conditions.append(
                exists().where(
                    Detection.frame_id == Frame.id, Detection.class_name == filters.class_name
                )
            )
        with self._session("list frames") as session:
            stmt = select(Frame).where(*conditions)
            rows: Sequence[Frame]
            if filters.rule is not None:
                # JSON containment differs between SQLite and PostgreSQL; rule lists are short,
                # so filter in Python over the matching rows and page afterwards.
                all_rows = session.scalars(
                    stmt.order_by(
                        Frame.priority.desc(), Frame.captured_at_ns.desc(), Frame.id
                    ).options(selectinload(Frame.detections))
                ).all()
                matching = [r for r in all_rows if filters.rule in r.rules_fired]
                return [_frame_record(r) for r in matching[offset : offset + limit]], len(matching)
            total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
            rows = session.scalars(
                stmt.order_by(Frame.priority.desc(), Frame.captured_at_ns.desc(), Frame.id)
                .limit(limit)
                .offset(offset)
                .options(selectinload(Frame.detections))
            ).all()
            return [_frame_record(r) for r in rows], total

    def known_blob_keys(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` that some frame row references (for the orphan sweep)."""
        wanted = list(keys)
        found: set[str] = set()
        with self._session("check blob keys") as session:
            for start in range(0, len(wanted), 500):
                batch = wanted[start : start + 500]
                found.update(
                    session.scalars(select(Frame.blob_key).where(Frame.blob_key.in_(batch)))
                )
        return found

    def count_frames(self) -> int:
        """How many frames are stored."""
        with self._session("count frames") as session:
            return int(session.scalar(select(func.count()).select_from(Frame)) or 0)

    def ping(self) -> None:
        """Run a trivial query; raises a retryable StorageError if the database is unreachable."""
        with self._session("answer a ping") as session:
            session.execute(select(1))
