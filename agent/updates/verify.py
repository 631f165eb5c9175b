"""What the vehicle checks of a downloaded model archive before anything of it becomes a package:
the archive's SHA-256 must be the digest it was assigned, the Ed25519 signature must verify with
the public key the vehicle was configured with, and only then is it unpacked (the package's own
files only: no links, folders, absolute or ``..`` paths, within size bounds).

The archive format, its digest, the signed message and the safe unpack are the shared
``core.formats.model_archive`` (the registry packs and signs with the same module); this adapter
reads the downloaded file, runs those checks in that order and turns their errors into
``PackageRefusedError`` naming the version. The digest the server announced is never trusted: it
must equal the one computed here, and the signature is checked over the computed one.
"""

from __future__ import annotations

import re
from pathlib import Path

from agent.errors import PackageRefusedError
from core.errors import ArchiveError, SignatureError
from core.formats.model_archive import (
    MAX_TOTAL_BYTES,
    check_archive_digest,
    unpack_archive,
    verify_archive,
)

#: The registry's version names (``backend.release.registry.VERSION_RE``) less a leading dot:
#: a version names a directory of the vehicle's model store, and hidden names are its own.
_VERSION_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")


def check_version(version: str) -> str:
    """Return ``version`` if it can name a package directory (1-128 of [A-Za-z0-9._-], not
    starting with a dot); PackageRefusedError otherwise (a server must not pick our paths)."""
    if not _VERSION_RE.match(version):
        raise PackageRefusedError(
            version[:64], "a version is 1-128 of [A-Za-z0-9._-], not starting with a dot"
        )
    return version


def verify_and_unpack(
    archive_path: Path,
    version: str,
    digest: str,
    signature: bytes,
    public_key: bytes,
    dest: Path,
    *,
    max_unpacked_bytes: int = MAX_TOTAL_BYTES,
) -> None:
    """Check the archive at ``archive_path`` against the assigned ``digest`` and ``signature``
    with the vehicle's raw 32-byte ``public_key``, then unpack it into the new directory
    ``dest`` (created whole or not at all). Nothing is unpacked from an archive that fails a
    check; PackageRefusedError says which check and the values."""
    try:
        data = archive_path.read_bytes()
        actual = check_archive_digest(data, digest.lower())
        verify_archive(actual, signature, public_key)
        unpack_archive(data, dest, max_total_bytes=max_unpacked_bytes)
    except (ArchiveError, SignatureError) as exc:
        raise PackageRefusedError(version, str(exc)) from exc
