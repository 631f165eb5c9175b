"""The release signing key: an Ed25519 private key in a file outside the repository.

The file is PKCS#8 PEM, unencrypted, mode 0600 (group and others may not even read it: such a
file is refused, as ssh refuses one). It is made once, by ``longtail release keygen`` or on first
use when ``release.generate_key`` is on, and never overwritten. Vehicles are configured with the
public key (32 raw bytes, shown in hex by ``longtail release pubkey``).
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend.errors import SigningKeyError
from core.formats.atomic import ensure_directory, fsync_directory
from core.formats.model_archive import key_fingerprint, signed_message

log = logging.getLogger(__name__)

#: permission bits a key file may not carry (any access by group or others)
_UNSAFE_BITS = stat.S_IRWXG | stat.S_IRWXO


class Signer:
    """Signs archive digests with one Ed25519 private key."""

    def __init__(self, private_key: Ed25519PrivateKey, source: str = "memory") -> None:
        self._key = private_key
        self.source = source
        self.public_key: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @classmethod
    def generate(cls) -> Signer:
        """A signer with a fresh key held only in memory (tests, throwaway demos)."""
        return cls(Ed25519PrivateKey.generate())

    @property
    def public_key_hex(self) -> str:
        """The 32-byte public key in hex: what a vehicle's configuration holds."""
        return self.public_key.hex()

    @property
    def fingerprint(self) -> str:
        """A short name of the key for logs (``core.formats.model_archive.key_fingerprint``)."""
        return key_fingerprint(self.public_key)

    def sign(self, digest: str) -> bytes:
        """The 64-byte Ed25519 signature of the archive whose SHA-256 hex is ``digest``."""
        return self._key.sign(signed_message(digest))

    @classmethod
    def from_key_file(cls, path: Path) -> Signer:
        """Load the key in ``path``; SigningKeyError if it is missing, unsafe or not a key."""
        try:
            info = path.stat()
        except FileNotFoundError:
            raise SigningKeyError(
                f"release signing key {path} does not exist: create it with "
                "`longtail release keygen` (or set release.generate_key = true)"
            ) from None
        except OSError as exc:
            raise SigningKeyError(f"cannot read release signing key {path}: {exc}") from exc
        if not stat.S_ISREG(info.st_mode):
            raise SigningKeyError(f"release signing key {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & _UNSAFE_BITS:
            raise SigningKeyError(
                f"release signing key {path} has mode {mode:04o}: group or others may read it; "
                f"run `chmod 600 {path}` (and consider the key leaked if others could read it)"
            )
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise SigningKeyError(
                f"release signing key {path} holds no unencrypted PEM private key: {exc}"
            ) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(
                f"release signing key {path} is a {type(key).__name__}, not an Ed25519 key"
            )
        return cls(key, source=str(path))


def generate_key_file(path: Path) -> Signer:
    """Create a new key in ``path`` (mode 0600, parent folders 0700) and return its signer.

    The key is written to a temp file in the same folder, fsynced and hard-linked into place, so
    ``path`` never holds part of a key and an existing key is never replaced (SigningKeyError)."""
    if path.exists() or path.is_symlink():
        raise SigningKeyError(
            f"release signing key {path} already exists; vehicles trust it, so it is never "
            "replaced (move it away first to start a new identity)"
        )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        missing = not path.parent.exists()
        ensure_directory(path.parent)
        if missing:
            path.parent.chmod(0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise SigningKeyError(f"cannot create release signing key {path}: {exc}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp made it 0600
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)  # fails if the key appeared meanwhile: never overwrite one
        fsync_directory(path.parent)
    except FileExistsError:
        raise SigningKeyError(f"release signing key {path} appeared while creating it") from None
    except OSError as exc:
        raise SigningKeyError(f"cannot create release signing key {path}: {exc}") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)
    signer = Signer(key, source=str(path))
    log.warning(
        "created release signing key %s (public key %s): configure vehicles with this public key",
        path,
        signer.public_key_hex,
    )
    return signer


def load_signer(path: Path, *, create: bool) -> Signer:
    """The signer of the key file ``path``; with ``create``, a missing file is made first."""
    if create and not path.exists() and not path.is_symlink():
        try:
            return generate_key_file(path)
        except SigningKeyError:
            if not path.exists():  # lost a race to another process: load the winner's key
                raise
    return Signer.from_key_file(path)
