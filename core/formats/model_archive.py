"""Model archives: one deterministic tar of a model package, its digest and its signature.

The cloud packs a package directory (``agent.perception.package``: ``model.onnx``,
``metadata.json``, ``embeddings.npz`` and optionally ``scoring.npz``) into ONE uncompressed
ustar archive: members in sorted order, no directories, mode 0644, owner 0/0 with empty names,
mtime 0. The same files therefore always give the same bytes and the same digest, wherever and
whenever they are packed (the payloads are already compressed; zstd would gain little).

::

    data = pack_package(package_dir)          # bytes
    digest = archive_digest(data)             # SHA-256 hex of those bytes
    signature = private_key.sign(signed_message(digest))      # Ed25519, 64 bytes (the cloud)
    verify_archive(data, signature, public_key_bytes)         # the vehicle, before unpacking
    unpack_archive(data, target_dir)          # refuses anything but the package's own files

What is signed is :func:`signed_message` of the digest: a fixed, versioned prefix and the digest,
so a signature made for a model archive cannot be replayed as a signature of anything else the
same key might sign. The signature covers the bytes, not the version a server says they are: a
loader compares the unpacked ``metadata.json`` version with the one it was assigned.

Vehicle-side code: this module needs the standard library and ``cryptography`` only.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.errors import ArchiveError, SignatureError
from core.formats.atomic import fsync_directory

#: files every package holds, and the ones it may hold besides
REQUIRED_FILES: Final = ("embeddings.npz", "metadata.json", "model.onnx")
OPTIONAL_FILES: Final = ("scoring.npz",)
PACKAGE_FILES: Final = frozenset(REQUIRED_FILES + OPTIONAL_FILES)
#: largest member and largest archive unpacked (bytes): a bound on what a hostile archive costs
MAX_MEMBER_BYTES: Final = 1 << 30
MAX_TOTAL_BYTES: Final = 2 << 30
#: prefix of the signed message (bumped if the signed content ever changes)
SIGNATURE_CONTEXT: Final = b"longtail-model-archive/1:"
SIGNATURE_BYTES: Final = 64
PUBLIC_KEY_BYTES: Final = 32
_DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")
_FILE_MODE = 0o644


def archive_digest(data: bytes) -> str:
    """The SHA-256 (lower-case hex) of an archive's bytes: its identity everywhere."""
    return hashlib.sha256(data).hexdigest()


def signed_message(digest: str) -> bytes:
    """The exact bytes an Ed25519 signature of the archive with ``digest`` covers."""
    return SIGNATURE_CONTEXT + _check_digest(digest).encode("ascii")


def _check_digest(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise ArchiveError(f"archive digest {digest!r} is not 64 lower-case hex digits")
    return digest


def _package_files(package_dir: Path) -> list[Path]:
    """The package's files, sorted; refuses a missing required file, a link or anything else."""
    if not package_dir.is_dir():
        raise ArchiveError(f"{package_dir}: model package directory does not exist")
    entries = sorted(package_dir.iterdir(), key=lambda p: p.name)
    unexpected = [p.name for p in entries if p.name not in PACKAGE_FILES]
    if unexpected:
        raise ArchiveError(
            f"{package_dir}: unexpected entries {unexpected}; a package holds only "
            f"{sorted(PACKAGE_FILES)}"
        )
    links = [p.name for p in entries if p.is_symlink() or not p.is_file()]
    if links:
        raise ArchiveError(f"{package_dir}: {links} must be regular files, not links or folders")
    missing = sorted(set(REQUIRED_FILES) - {p.name for p in entries})
    if missing:
        raise ArchiveError(f"{package_dir}: model package is missing {missing}")
    return entries


def pack_members(files: Iterable[tuple[str, bytes]]) -> bytes:
    """A deterministic ustar archive of ``(name, content)`` pairs, in sorted name order.

    The building block of :func:`pack_package`; it checks nothing about the names (tests use it
    to build hostile archives with the same byte layout)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = _FILE_MODE
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def pack_package(package_dir: str | os.PathLike[str]) -> bytes:
    """The package in ``package_dir`` as one deterministic archive (see the module docstring)."""
    root = Path(package_dir)
    files = _package_files(root)
    try:
        return pack_members((p.name, p.read_bytes()) for p in files)
    except OSError as exc:
        raise ArchiveError(f"{root}: cannot read the model package: {exc}") from exc


def check_archive_digest(data: bytes, expected: str) -> str:
    """``data``'s digest if it equals ``expected``; ArchiveError naming both otherwise."""
    actual = archive_digest(data)
    if actual != _check_digest(expected):
        raise ArchiveError(
            f"model archive of {len(data)} bytes has digest {actual}, expected {expected}"
        )
    return actual


def load_public_key(public_key: bytes) -> Ed25519PublicKey:
    """A raw 32-byte Ed25519 public key; SignatureError if it is not one."""
    if not isinstance(public_key, bytes | bytearray) or len(public_key) != PUBLIC_KEY_BYTES:
        size = len(public_key) if isinstance(public_key, bytes | bytearray) else "no"
        raise SignatureError(
            f"public key must be {PUBLIC_KEY_BYTES} raw Ed25519 bytes, got {size} bytes"
        )
    return Ed25519PublicKey.from_public_bytes(bytes(public_key))


def verify_archive(
    archive_or_digest: bytes | str, signature: bytes | None, public_key: bytes
) -> str:
    """Check that ``signature`` is the Ed25519 signature, by ``public_key`` (raw 32 bytes), of
    the archive (its bytes, or its hex digest as a str); return the digest.

    Raises SignatureError naming the digest and the key's fingerprint when the signature is
    missing, has the wrong size, or does not verify (a changed byte, another key)."""
    digest = (
        _check_digest(archive_or_digest)
        if isinstance(archive_or_digest, str)
        else archive_digest(bytes(archive_or_digest))
    )
    key = load_public_key(public_key)
    who = f"key {key_fingerprint(bytes(public_key))}"
    if not signature:
        raise SignatureError(f"model archive {digest} is unsigned ({who} expected a signature)")
    if len(signature) != SIGNATURE_BYTES:
        raise SignatureError(
            f"model archive {digest}: signature is {len(signature)} bytes, an Ed25519 "
            f"signature is {SIGNATURE_BYTES}"
        )
    try:
        key.verify(bytes(signature), signed_message(digest))
    except InvalidSignature:
        raise SignatureError(
            f"model archive {digest}: signature does not verify with {who} (the archive was "
            "changed, or another key signed it)"
        ) from None
    return digest


def key_fingerprint(public_key: bytes) -> str:
    """A short, stable name of a public key for messages and logs (first 16 hex of its SHA-256)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def read_members(
    data: bytes,
    *,
    max_member_bytes: int = MAX_MEMBER_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> dict[str, bytes]:
    """The files of an archive by name, after checking every member: only the package's own
    file names (no folders, absolute paths, ``..``, links or devices), each once, the required
    ones present, within the size bounds. ArchiveError names the first problem."""
    if len(data) > max_total_bytes + (1 << 20):
        raise ArchiveError(f"model archive is {len(data)} bytes, more than {max_total_bytes}")
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar:
                name = member.name
                if not member.isreg():
                    raise ArchiveError(
                        f"model archive member {name!r} is not a regular file "
                        f"(type {member.type!r}): links and folders are refused"
                    )
                if name.startswith("/") or "\\" in name or ".." in name.split("/"):
                    raise ArchiveError(f"model archive member {name!r} points outside its folder")
                if name not in PACKAGE_FILES:
                    raise ArchiveError(
                        f"model archive member {name!r} is not a package file "
                        f"({sorted(PACKAGE_FILES)})"
                    )
                if name in files:
                    raise ArchiveError(f"model archive holds {name!r} twice")
                if member.size > max_member_bytes:
                    raise ArchiveError(
                        f"model archive member {name!r} is {member.size} bytes, more than "
                        f"{max_member_bytes}"
                    )
                total += member.size
                if total > max_total_bytes:
                    raise ArchiveError(
                        f"model archive unpacks to more than {max_total_bytes} bytes"
                    )
                handle = tar.extractfile(member)
                content = handle.read() if handle is not None else b""
                if len(content) != member.size:
                    raise ArchiveError(
                        f"model archive member {name!r} is truncated: {len(content)} of "
                        f"{member.size} bytes"
                    )
                files[name] = content
    except tarfile.TarError as exc:
        raise ArchiveError(f"model archive of {len(data)} bytes is not a valid tar: {exc}") from exc
    missing = sorted(set(REQUIRED_FILES) - set(files))
    if missing:
        raise ArchiveError(f"model archive is missing {missing}")
    return files


def unpack_archive(
    data: bytes,
    target: str | os.PathLike[str],
    *,
    max_member_bytes: int = MAX_MEMBER_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> Path:
    """Unpack the archive into the new directory ``target`` and return it.

    Every member is checked first (:func:`read_members`); the files are written into a temporary
    sibling of ``target``, fsynced, and the directory renamed into place, so ``target`` either
    does not exist or holds the whole package, even after a crash. An existing ``target`` is
    refused: a package directory is never changed in place. Verify the signature before this."""
    dest = Path(target)
    if dest.exists() or dest.is_symlink():
        raise ArchiveError(f"{dest}: already exists; a model package is unpacked into a new folder")
    files = read_members(data, max_member_bytes=max_member_bytes, max_total_bytes=max_total_bytes)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        for name, content in files.items():
            with open(tmp / name, "xb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
        fsync_directory(tmp)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_directory(dest.parent)
    return dest
