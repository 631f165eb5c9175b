"""A zip archive written as a stream of byte chunks, one member at a time.

``zipfile`` writes to an unseekable sink with data descriptors, so no member is revisited and
the archive never has to exist whole in memory or on disk: the HTTP response sends each chunk
as soon as its member is compressed. Members get a fixed timestamp, so the same files always
make the same archive bytes.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator

#: 1980-01-01, the earliest time a zip entry can carry: the archive's bytes depend on content only
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
#: point clouds hardly deflate (float mantissas); everything else does, well
STORED_SUFFIXES = (".bin",)


class _Sink(io.RawIOBase):
    """A write-only, unseekable buffer the archive writes into and the stream drains."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


def zip_stream(members: Iterable[tuple[str, bytes]]) -> Iterator[bytes]:
    """The chunks of a zip archive of ``members`` (name, bytes), in order."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            stored = name.endswith(STORED_SUFFIXES)
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, compresslevel=None if stored else 6)
            chunk = sink.drain()
            if chunk:
                yield chunk
    tail = sink.drain()
    if tail:
        yield tail
