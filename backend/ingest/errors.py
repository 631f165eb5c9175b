"""An ingest rejection: a BackendError that carries the gRPC status code the client receives."""

from __future__ import annotations

import grpc

from backend.errors import BackendError


class IngestRejected(BackendError):  # noqa: N818 - a rejection, not a failure of the server
    """A request refused with ``code``; the message names the value and the limit it broke."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
