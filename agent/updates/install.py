"""The vehicle's model store: verified install of downloaded packages, the ``current`` pointer,
and the previous package kept for rollback.

::

    MODELS/staging/<version>.part   a download in progress (resumed from its size)
    MODELS/<version>/               an installed package (model.onnx, metadata.json, ...)
    MODELS/current                  JSON {version, digest, previous, previous_digest}

An install verifies the archive's digest and its signature with the vehicle's public key before
anything is unpacked, unpacks into a hidden temporary directory (durably,
``core.formats.model_archive.unpack_archive``), loads it as a ``ModelPackage`` (its metadata must
name the assigned version) and renames it into place. A
package that fails any step is deleted with its partial file and raised as
``PackageRefusedError``; nothing the running model uses is touched. ``activate`` moves the
``current`` pointer (written atomically) and removes every package but the current and the
previous one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from agent.errors import AgentError, PackageRefusedError
from agent.updates.client import ModelOffer
from agent.updates.verify import check_version, verify_and_unpack
from core.errors import CoreError
from core.formats.atomic import atomic_write_bytes, ensure_directory, fsync_directory
from core.formats.model_archive import MAX_TOTAL_BYTES, key_fingerprint

log = logging.getLogger(__name__)

CURRENT_FILE = "current"
STAGING_DIR = "staging"
_RESERVED = frozenset({CURRENT_FILE, STAGING_DIR})

#: Loads the package in a directory and returns the version its metadata names.
PackageCheck = Callable[[Path], str]


def load_package_version(path: Path) -> str:
    """The default check: ``ModelPackage.load`` (metadata, files, the ONNX graph's signature)."""
    from agent.perception.package import ModelPackage  # onnxruntime: only when installing

    return ModelPackage.load(path).version


@dataclass(frozen=True)
class CurrentPointer:
    """What ``MODELS/current`` says: the installed version to run and the one before it."""

    version: str
    digest: str
    previous: str = ""
    previous_digest: str = ""


class ModelStore:
    """Packages under ``root`` (see the module docstring); ``public_key`` is the raw 32-byte
    Ed25519 key every package must be signed with."""

    def __init__(
        self,
        root: Path,
        public_key: bytes,
        *,
        check_package: PackageCheck = load_package_version,
        max_unpacked_bytes: int = MAX_TOTAL_BYTES,
    ) -> None:
        self.root = root
        self.public_key = public_key
        self.key_id = key_fingerprint(public_key)
        self._check_package = check_package
        self._max_unpacked_bytes = max_unpacked_bytes

    def part_path(self, version: str) -> Path:
        """Where the download of ``version`` accumulates."""
        return self.root / STAGING_DIR / f"{version}.part"

    def package_dir(self, version: str) -> Path:
        """Where ``version`` is (or would be) installed."""
        return self.root / version

    def current(self) -> CurrentPointer | None:
        """The pointer, or None when there is none or it is unreadable (logged)."""
        path = self.root / CURRENT_FILE
        try:
            raw = json.loads(path.read_text())
            pointer = CurrentPointer(**raw)
            check_version(pointer.version)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, AgentError) as exc:
            log.error("%s is unreadable, ignoring it: %s", path, exc)
            return None
        return pointer

    def current_package(self) -> Path | None:
        """The directory of the current package, if the pointer names one that exists."""
        pointer = self.current()
        if pointer is None or not self.package_dir(pointer.version).is_dir():
            return None
        return self.package_dir(pointer.version)

    def installed(self, offer: ModelOffer) -> Path | None:
        """The directory of ``offer`` if it is the current or previous package with the same
        digest (a rollback needs no download), else None."""
        pointer = self.current()
        if pointer is None:
            return None
        known = {pointer.version: pointer.digest}
        if pointer.previous:
            known[pointer.previous] = pointer.previous_digest
        directory = self.package_dir(offer.version)
        if known.get(offer.version) == offer.digest and directory.is_dir():
            return directory
        return None

    def discard(self, version: str) -> None:
        """Delete the partial download of ``version``."""
        self.part_path(version).unlink(missing_ok=True)

    def drop_parts(self, keep: str) -> None:
        """Delete partial downloads of every version but ``keep`` (an assignment changed)."""
        staging = self.root / STAGING_DIR
        if staging.is_dir():
            for part in staging.glob("*.part"):
                if part.name.removesuffix(".part") != keep:
                    part.unlink(missing_ok=True)
                    log.info("dropped the partial download %s", part.name)

    def remove_unused(self, version: str) -> None:
        """Delete the package of ``version`` unless the pointer names it (current or previous)."""
        pointer = self.current()
        if pointer is not None and version in (pointer.version, pointer.previous):
            return
        shutil.rmtree(self.package_dir(version), ignore_errors=True)

    def install(self, offer: ModelOffer, running_version: str) -> Path:
        """Verify, unpack, check and place the downloaded ``offer`` (see the module docstring);
        returns the package directory. PackageRefusedError deletes the download."""
        version = offer.version
        part = self.part_path(version)
        tmp = self.root / f".{version}.unpacking"
        try:
            if version in _RESERVED:
                raise PackageRefusedError(version, f"{version!r} is a reserved name")
            if offer.key_id and offer.key_id != self.key_id:
                raise PackageRefusedError(
                    version,
                    f"signed with key {offer.key_id}, this vehicle trusts key {self.key_id}",
                )
            shutil.rmtree(tmp, ignore_errors=True)  # left by an install a crash interrupted
            verify_and_unpack(
                part,
                version,
                offer.digest,
                offer.signature,
                self.public_key,
                tmp,
                max_unpacked_bytes=self._max_unpacked_bytes,
            )
            try:
                named = self._check_package(tmp)
            except (AgentError, CoreError) as exc:
                raise PackageRefusedError(version, f"package does not load: {exc}") from exc
            if named != version:
                raise PackageRefusedError(
                    version, f"package metadata names version {named!r}, assigned {version!r}"
                )
            final = self.package_dir(version)
            if final.exists():
                if version == running_version:
                    raise PackageRefusedError(
                        version, "a different package of the running version is installed"
                    )
                shutil.rmtree(final)  # an older package under the same name, not in use
            os.rename(tmp, final)
            fsync_directory(self.root)
        except PackageRefusedError:
            shutil.rmtree(tmp, ignore_errors=True)
            self.discard(version)
            raise
        except BaseException:
            # a full disk or an interrupt: the verified download stays for the next attempt
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.discard(version)
        log.info(
            "installed model %s (%d bytes, sha256 %s) in %s",
            version,
            offer.size,
            offer.digest,
            final,
        )
        return final

    def activate(self, version: str, digest: str) -> CurrentPointer:
        """Point ``current`` at ``version`` (atomic, durable), keep the one it replaces as
        ``previous`` and delete every other package and stale partial download."""
        old = self.current()
        if old is not None and old.version == version:
            pointer = CurrentPointer(version, digest, old.previous, old.previous_digest)
        elif old is not None:
            pointer = CurrentPointer(version, digest, old.version, old.digest)
        else:
            pointer = CurrentPointer(version, digest)
        ensure_directory(self.root)
        atomic_write_bytes(self.root / CURRENT_FILE, json.dumps(asdict(pointer)).encode())
        self._prune(keep={pointer.version, pointer.previous} - {""})
        log.info("current model %s (previous %s)", pointer.version, pointer.previous or "none")
        return pointer

    def _prune(self, keep: set[str]) -> None:
        for entry in self.root.iterdir():
            if entry.name in _RESERVED or entry.name in keep:
                continue
            if entry.name.startswith(".") and not entry.name.endswith((".unpacking", ".tmp")):
                continue  # not ours; hidden directories are installs a crash interrupted
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
                log.info("removed old model package %s", entry.name)
        staging = self.root / STAGING_DIR
        if staging.is_dir():
            for part in staging.glob("*.part"):
                if part.name.removesuffix(".part") not in keep:
                    part.unlink(missing_ok=True)
