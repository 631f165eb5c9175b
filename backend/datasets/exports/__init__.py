"""Exports of a dataset version, one module per format, streamed as one zip archive.

=================  ==========================================================================
format             module (its docstring states the conventions: frames, box centre, yaw, units)
=================  ==========================================================================
``kitti``          ``kitti``: velodyne/*.bin, label_2/*.txt, calib/*.txt
``nuscenes``       ``nuscenes``: samples/LIDAR_TOP/*.pcd.bin, v1.0-longtail/*.json tables
``openlabel``      ``openlabel``: velodyne/*.bin, openlabel.json (ASAM OpenLABEL 1.0)
``semantickitti``  ``semantickitti``: sequences/00/velodyne/*.bin, sequences/00/labels/*.label
=================  ==========================================================================

Every archive also holds ``longtail.json``: the version's digest, the format's conventions and,
per frame, the file stem, frame id (SHA-256 of its stored payload), task and vehicle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final

from backend.datasets.exports import kitti, nuscenes, openlabel, semantickitti
from backend.datasets.exports.archive import zip_stream
from backend.datasets.manifest import Manifest
from backend.datasets.versions import DatasetVersions, ExportFrame
from backend.errors import InvalidInputError

Writer = Callable[[str, Manifest, Iterable[ExportFrame]], Iterator[tuple[str, bytes]]]

FORMATS: Final[dict[str, Writer]] = {
    "kitti": kitti.files,
    "nuscenes": nuscenes.files,
    "openlabel": openlabel.files,
    "semantickitti": semantickitti.files,
}


def writer(fmt: str) -> Writer:
    """The writer of ``fmt``; InvalidInputError naming the formats there are."""
    found = FORMATS.get(fmt)
    if found is None:
        raise InvalidInputError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    return found


def export_zip(versions: DatasetVersions, digest: str, fmt: str) -> Iterator[bytes]:
    """The zip archive of version ``digest`` in ``fmt``, as chunks. Everything that can fail
    before the first byte (unknown format or version, a missing blob) fails here, eagerly."""
    write = writer(fmt)
    manifest = versions.manifest(digest)
    versions.check_blobs(digest, manifest)
    return zip_stream(write(digest, manifest, versions.frames(digest, manifest)))
