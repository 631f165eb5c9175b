"""gRPC errors of the vehicle-facing services (ingest and model updates): a rejection that
carries its status code, the one mapping from backend exceptions to statuses, and the one
parser of request bytes."""

from __future__ import annotations

import logging
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message

from backend.errors import BackendError, InvalidInputError, NotFoundError, StorageError


class IngestRejected(BackendError):  # noqa: N818 - a rejection, not a failure of the server
    """A request refused with ``code``; the message names the value and the limit it broke."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


_M = TypeVar("_M", bound=Message)


def parse_message(kind: type[_M], raw: bytes) -> _M:
    """``raw`` parsed as a ``kind``; INVALID_ARGUMENT naming the type and size if malformed."""
    message = kind()
    try:
        message.ParseFromString(raw)
    except DecodeError as exc:
        raise IngestRejected(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"malformed {kind.__name__} ({len(raw)} bytes): {exc}",
        ) from exc
    return message


def status_of(exc: Exception, store: str) -> tuple[grpc.StatusCode, str]:
    """The status a client receives for ``exc`` (``store`` names what was unavailable)."""
    if isinstance(exc, IngestRejected):
        return exc.code, str(exc)
    if isinstance(exc, StorageError) and exc.retryable:
        return grpc.StatusCode.UNAVAILABLE, f"{store} unavailable, retry later: {exc}"
    if isinstance(exc, NotFoundError):
        return grpc.StatusCode.NOT_FOUND, str(exc)
    if isinstance(exc, InvalidInputError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    return grpc.StatusCode.INTERNAL, f"internal error: {exc}"


def abort_call(
    context: Any, log: logging.Logger, rpc: str, who: str, exc: Exception, *, store: str
) -> NoReturn:
    """Log one line (ERROR for an internal failure, WARNING otherwise) and end the call with
    the status that fits ``exc``."""
    code, message = status_of(exc, store)
    level = logging.ERROR if code == grpc.StatusCode.INTERNAL else logging.WARNING
    log.log(level, "%s refused for %s: %s: %s", rpc, who, code.name, message)
    context.abort(code, message)
    raise AssertionError("context.abort returned")  # pragma: no cover - abort always raises
