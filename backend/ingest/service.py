"""The Ingest servicer: QueryOffset and the client-streaming, resumable Upload.

An upload is acknowledged STORED only after the payload's SHA-256 matched its frame id, the blob
is durable in the blob store and the metadata row is committed -- blob first, row second, so a
crash in between leaves an orphan blob (removed by :mod:`backend.ingest.sweep`), never a row
without its blob. Bytes of an unfinished stream stay in the staging area keyed by vehicle and
frame id; the client asks QueryOffset and continues from ``committed_offset``. When the whole
payload is staged but the blob store was down, ``committed_offset == payload_size``: the client
finishes with one empty chunk at that offset with ``last = true``.

Every refusal aborts with a precise status code and one log line; nothing is stored for it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, NoReturn

import grpc
from sqlalchemy.exc import IntegrityError

from backend.errors import StorageError
from backend.ingest.auth import TokenAuthenticator
from backend.ingest.errors import IngestRejected, abort_call
from backend.ingest.locks import KeyedLocks
from backend.ingest.validation import (
    IngestLimits,
    PayloadChecker,
    check_frame_id,
    check_metadata,
    frame_record,
)
from backend.metadata.records import FrameRecord
from backend.metadata.unit_of_work import Database
from backend.storage.base import BlobStore
from backend.storage.staging import StagingArea
from longtail.v1 import ingest_pb2, ingest_pb2_grpc

log = logging.getLogger(__name__)

Status = ingest_pb2.UploadAck.Status


def blob_key_for(frame_id: str) -> str:
    """Where a frame's payload lives in the blob store."""
    return f"frames/{frame_id}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class IngestService(ingest_pb2_grpc.IngestServicer):
    """Implements ``longtail.v1.Ingest``; every collaborator is passed in."""

    def __init__(
        self,
        *,
        authenticator: TokenAuthenticator,
        db: Database,
        blobs: BlobStore,
        staging: StagingArea,
        limits: IngestLimits,
        payload_checker: PayloadChecker | None = None,
        lock_wait_s: float = 5.0,
        clock: Callable[[], datetime] = _utcnow,
        on_stored: Callable[[str], None] = lambda _frame_id: None,
    ) -> None:
        """``on_stored`` is called with the id of each newly stored frame, after its commit
        (the annotation stage turns stored frames into tasks)."""
        self._auth = authenticator
        self._db = db
        self._blobs = blobs
        self._staging = staging
        self.limits = limits
        self._checker = payload_checker or PayloadChecker(limits)
        self._lock_wait_s = lock_wait_s
        self._on_stored = on_stored
        self._clock = clock
        self._locks = KeyedLocks()

    # -- error mapping ------------------------------------------------------------------------

    def _abort(self, context: Any, rpc: str, who: str, exc: Exception) -> NoReturn:
        """Log one line and end the call with the status that fits ``exc``."""
        abort_call(context, log, rpc, who, exc, store="storage")

    # -- RPCs ---------------------------------------------------------------------------------

    def QueryOffset(  # noqa: N802 - the RPC name of the contract
        self, request: ingest_pb2.QueryOffsetRequest, context: Any
    ) -> ingest_pb2.QueryOffsetReply:
        """How many bytes of the frame this vehicle has staged, or its size if stored."""
        who = context.peer()
        try:
            vehicle = self._auth.authenticate(context.invocation_metadata()).name
            who = f"vehicle {vehicle}"
            frame_id = check_frame_id(request.frame_id)
            stored_size = self._stored_size(frame_id)
            if stored_size is not None:
                return ingest_pb2.QueryOffsetReply(
                    frame_id=frame_id, committed_offset=stored_size, stored=True
                )
            committed = self._staging.committed(vehicle, frame_id)
            return ingest_pb2.QueryOffsetReply(frame_id=frame_id, committed_offset=committed)
        except (IngestRejected, StorageError) as exc:
            self._abort(context, "QueryOffset", who, exc)

    def Upload(  # noqa: N802 - the RPC name of the contract
        self, request_iterator: Iterator[ingest_pb2.UploadChunk], context: Any
    ) -> ingest_pb2.UploadAck:
        """Receive one frame's payload (or a slice of it) and store it when complete."""
        who = context.peer()
        try:
            vehicle = self._auth.authenticate(context.invocation_metadata()).name
            who = f"vehicle {vehicle}"
            first = next(request_iterator, None)
            if first is None:
                raise IngestRejected(
                    grpc.StatusCode.INVALID_ARGUMENT, "upload stream has no chunks"
                )
            if not first.HasField("metadata"):
                raise IngestRejected(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "the first chunk of an upload must carry metadata",
                )
            meta = first.metadata
            check_metadata(meta, vehicle, self.limits)
            who = f"vehicle {vehicle} frame {meta.frame_id}"
            if self._stored_size(meta.frame_id) is not None:
                return self._already_stored(vehicle, meta)
            with self._locks.hold((vehicle, meta.frame_id), self._lock_wait_s) as held:
                if not held:
                    raise IngestRejected(
                        grpc.StatusCode.ABORTED,
                        f"another upload of frame {meta.frame_id} by {vehicle} is in progress",
                    )
                if self._stored_size(meta.frame_id) is not None:
                    # stored by the stream we waited for: acknowledge without writing again
                    return self._already_stored(vehicle, meta)
                return self._receive(vehicle, meta, first, request_iterator)
        except (IngestRejected, StorageError) as exc:
            self._abort(context, "Upload", who, exc)

    def _stored_size(self, frame_id: str) -> int | None:
        with self._db.transaction(f"look up frame {frame_id}") as uow:
            return uow.frames.payload_size(frame_id)

    def _insert(self, record: FrameRecord) -> bool:
        """Insert the frame row; False if it was already stored (also when a concurrent insert
        of the same payload won the race on the primary key)."""
        try:
            with self._db.transaction(f"insert frame {record.id}") as uow:
                inserted = uow.frames.add(record)
        except IntegrityError:
            # lost a race with a concurrent insert of the same id; anything else (an unknown
            # vehicle) is a real error
            if self._stored_size(record.id) is not None:
                return False
            raise
        if inserted:
            self._on_stored(record.id)
        return inserted

    def _already_stored(self, vehicle: str, meta: Any) -> ingest_pb2.UploadAck:
        self._staging.discard(vehicle, meta.frame_id)  # a partial copy is of no use any more
        log.info("frame %s from %s already stored; nothing written", meta.frame_id, vehicle)
        return ingest_pb2.UploadAck(
            frame_id=meta.frame_id,
            status=Status.STATUS_ALREADY_STORED,
            committed_offset=meta.payload_size,
        )

    # -- the upload proper --------------------------------------------------------------------

    def _receive(
        self,
        vehicle: str,
        meta: Any,
        first: ingest_pb2.UploadChunk,
        chunks: Iterator[ingest_pb2.UploadChunk],
    ) -> ingest_pb2.UploadAck:
        frame_id, size = meta.frame_id, meta.payload_size
        committed = self._staging.committed(vehicle, frame_id)
        if first.offset > committed:
            raise IngestRejected(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"frame {frame_id}: first chunk offset {first.offset} is past the {committed} "
                "bytes held; ask QueryOffset and resume from committed_offset",
            )
        complete = False
        with self._staging.open_writer(vehicle, frame_id, first.offset) as writer:
            chunk: ingest_pb2.UploadChunk | None = first
            try:
                while chunk is not None:
                    self._check_chunk(frame_id, size, writer.position, chunk)
                    writer.write(chunk.data)
                    if chunk.last:
                        complete = True
                        break
                    chunk = next(chunks, None)
            except grpc.RpcError:
                # The client went away mid-stream (cancel, reset, kill): keep what arrived.
                log.info(
                    "upload of frame %s by %s broke off at offset %d; kept for resume",
                    frame_id,
                    vehicle,
                    writer.position,
                )
                raise
            position = writer.position
        if not complete:
            log.info(
                "frame %s from %s partial: %d of %d bytes staged", frame_id, vehicle, position, size
            )
            return ingest_pb2.UploadAck(
                frame_id=frame_id, status=Status.STATUS_PARTIAL, committed_offset=position
            )
        if position != size:
            raise IngestRejected(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"frame {frame_id}: last chunk ends at byte {position}, but payload_size is {size}",
            )
        return self._store(vehicle, meta)

    def _check_chunk(
        self, frame_id: str, size: int, position: int, chunk: ingest_pb2.UploadChunk
    ) -> None:
        if chunk.offset != position:
            raise IngestRejected(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"frame {frame_id}: chunk offset {chunk.offset} does not continue at byte {position}",
            )
        if len(chunk.data) > self.limits.max_chunk_bytes:
            raise IngestRejected(
                grpc.StatusCode.INVALID_ARGUMENT,  # refused for good: see validation._TOO_BIG
                f"frame {frame_id}: chunk of {len(chunk.data)} bytes is over the limit of "
                f"{self.limits.max_chunk_bytes}",
            )
        if position + len(chunk.data) > size:
            raise IngestRejected(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"frame {frame_id}: chunk at {position} of {len(chunk.data)} bytes runs past "
                f"payload_size {size}",
            )

    def _store(self, vehicle: str, meta: Any) -> ingest_pb2.UploadAck:
        frame_id = meta.frame_id
        payload = self._staging.read(vehicle, frame_id)
        digest = hashlib.sha256(payload).hexdigest()
        if digest != frame_id:
            self._staging.discard(vehicle, frame_id)  # corrupt: the client must send it again
            raise IngestRejected(
                grpc.StatusCode.DATA_LOSS,
                f"payload SHA-256 is {digest}, not the frame id {frame_id}; staged bytes discarded",
            )
        try:
            self._checker.check(meta, payload)
        except IngestRejected:
            self._staging.discard(vehicle, frame_id)
            raise
        if self._stored_size(frame_id) is not None:
            # another vehicle finished the same payload while this one streamed it
            return self._already_stored(vehicle, meta)
        key = blob_key_for(frame_id)
        # Blob first (durable on return), row second: a crash between them leaves an orphan
        # blob for the sweep; a failure here keeps the staged bytes for the client's retry.
        self._blobs.put(key, payload)
        inserted = self._insert(frame_record(meta, key, self._clock()))
        self._staging.discard(vehicle, frame_id)
        status = Status.STATUS_STORED if inserted else Status.STATUS_ALREADY_STORED
        log.info(
            "frame %s from %s %s (%d bytes, %d points)",
            frame_id,
            vehicle,
            "stored" if inserted else "already stored",
            len(payload),
            meta.num_points,
        )
        return ingest_pb2.UploadAck(frame_id=frame_id, status=status, committed_offset=len(payload))
