"""The model registry: signed model archives in the blob store, their facts and aliases in the
metadata database.

Registering packs the package into one deterministic archive
(``core.formats.model_archive``), signs its digest, stores the archive under
``models/<version>/<digest>.tar`` and only then inserts the row. A crash between the two leaves
an orphan blob, never a row without its archive (a half-registered model); registering the same
content again stores the same bytes under the same key and inserts the row.

Aliases: ``champion`` (what the fleet runs), ``candidate`` (under rollout), ``previous`` (the
champion before the last promotion). A promotion moves champion -> previous and the version ->
champion in one transaction, with an audit event; the ``on_promote`` hooks run in that same
transaction (the safety stage snapshots the case the model is released with), so a promotion
and what it records commit together or not at all.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy.exc import IntegrityError

from agent.perception.package import ModelPackage, default_package_path
from backend.errors import ConflictError, InvalidInputError, NotFoundError, StorageError
from backend.metadata.repositories.model_versions import AliasRecord, ModelVersionRecord
from backend.metadata.unit_of_work import Database, UnitOfWork
from backend.release.signing import Signer
from backend.storage.base import BlobStore
from core.errors import ArchiveError, SignatureError
from core.formats.model_archive import (
    archive_digest,
    check_archive_digest,
    pack_package,
    read_members,
    unpack_archive,
    verify_archive,
)

log = logging.getLogger(__name__)

CHAMPION: Final = "champion"
CANDIDATE: Final = "candidate"
PREVIOUS: Final = "previous"
ALIASES: Final = (CHAMPION, CANDIDATE, PREVIOUS)
#: a version names a blob folder: the blob store's key characters, at most 128
VERSION_RE: Final = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_DIGEST_RE: Final = re.compile(r"^[0-9a-f]{64}$")

#: called in a promotion's transaction with (unit of work, version, actor, time)
PromotionHook = Callable[[UnitOfWork, str, str, datetime], object]


def archive_key(version: str, digest: str) -> str:
    """Where the archive of ``version`` with ``digest`` lives in the blob store."""
    return f"models/{version}/{digest}.tar"


def check_version(version: str) -> str:
    """``version`` if it can name a model (InvalidInputError naming it otherwise)."""
    if not VERSION_RE.match(version) or version in {".", ".."}:
        raise InvalidInputError(
            f"model version {version!r} must be 1-128 characters of [A-Za-z0-9._-]"
        )
    return version


def check_alias(name: str) -> str:
    if name not in ALIASES:
        raise InvalidInputError(f"alias {name!r} is not one of {list(ALIASES)}")
    return name


class ModelRegistry:
    """Registered model versions over one database and blob store; ``signer`` signs new ones;
    ``on_promote`` hooks run inside every promotion's transaction (module docstring)."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        signer: Signer,
        clock: Callable[[], datetime],
        *,
        on_promote: Sequence[PromotionHook] = (),
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._signer = signer
        self._clock = clock
        self._on_promote = tuple(on_promote)

    @property
    def public_key(self) -> bytes:
        """The raw public key new versions are signed with."""
        return self._signer.public_key

    def register(
        self,
        package_dir: str | Path,
        *,
        run_id: str | None,
        dataset_digest: str | None,
        parent_version: str | None,
        metrics: dict[str, Any],
        actor: str = "system",
    ) -> ModelVersionRecord:
        """Register the package in ``package_dir`` under the version its ``metadata.json``
        names; return the stored record. The same content again returns the existing record;
        another content under a registered version is a ConflictError. The package is loaded
        as the vehicle loads it (``ModelPackage.load``) first, so a broken one is refused."""
        package = ModelPackage.load(package_dir)
        version = check_version(package.version)
        if dataset_digest is not None and not _DIGEST_RE.match(dataset_digest):
            raise InvalidInputError(f"dataset digest {dataset_digest!r} is not 64 hex digits")
        try:
            json.dumps(metrics, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"metrics of {version} are not finite JSON: {exc}") from exc
        try:
            data = pack_package(package.path)
        except ArchiveError as exc:
            raise InvalidInputError(str(exc)) from exc
        digest = archive_digest(data)
        with self._db.transaction(f"check model version {version}") as uow:
            existing = self._existing(uow, version, digest)
            if existing is not None:
                return existing
            if parent_version is not None:
                uow.models.require(parent_version)
        signature = self._signer.sign(digest)
        key = archive_key(version, digest)
        self._blobs.put(key, data)  # first: a row never names a missing archive
        record = ModelVersionRecord(
            version=version,
            digest=digest,
            size=len(data),
            signature=signature,
            public_key=self._signer.public_key,
            blob_key=key,
            run_id=run_id,
            dataset_digest=dataset_digest,
            parent_version=parent_version,
            metrics=dict(metrics),
            created_at=self._clock(),
            created_by=actor,
        )
        try:
            with self._db.transaction(f"register model version {version}") as uow:
                uow.models.add(record)
                uow.audit.record(
                    record.created_at,
                    actor,
                    "model.register",
                    details={"version": version, "digest": digest, "size": len(data)},
                )
        except IntegrityError:
            # another process registered it between our check and insert
            with self._db.transaction(f"read model version {version}") as uow:
                existing = self._existing(uow, version, digest)
            if existing is None:
                raise ConflictError(
                    f"model archive {digest} is already registered under another version"
                ) from None
            return existing
        log.info(
            "registered model %s (%d bytes, digest %s) by %s", version, len(data), digest, actor
        )
        return record

    @staticmethod
    def _existing(uow: UnitOfWork, version: str, digest: str) -> ModelVersionRecord | None:
        found = uow.models.get(version)
        if found is not None and found.digest != digest:
            raise ConflictError(
                f"model version {version} is registered with archive {found.digest}; this "
                f"package packs to {digest} (give a new package a new version)"
            )
        if found is None:
            other = uow.models.by_digest(digest)
            if other is not None:
                raise ConflictError(
                    f"model archive {digest} is registered as version {other.version}"
                )
        return found

    def get(self, version: str) -> ModelVersionRecord:
        """The record of ``version`` (NotFoundError if it is not registered)."""
        with self._db.transaction(f"read model version {version}") as uow:
            return uow.models.require(version)

    def list(self, *, limit: int = 100, offset: int = 0) -> list[ModelVersionRecord]:
        """Registered versions, newest first."""
        with self._db.transaction("list model versions") as uow:
            return uow.models.list(limit=limit, offset=offset)

    def open_archive(self, version: str) -> bytes:
        """The archive bytes of ``version``, their digest and signature checked against the
        record (a corrupt or swapped blob is a StorageError naming both digests)."""
        record = self.get(version)
        data = self._blobs.get(record.blob_key)
        try:
            check_archive_digest(data, record.digest)
            verify_archive(record.digest, record.signature, record.public_key)
        except (ArchiveError, SignatureError) as exc:
            raise StorageError(
                f"stored archive of model {version} at {record.blob_key} is damaged: {exc}"
            ) from exc
        return data

    def package_metadata(self, version: str) -> dict[str, Any]:
        """The ``metadata.json`` inside the archive of ``version``."""
        members = read_members(self.open_archive(version))
        loaded: dict[str, Any] = json.loads(members["metadata.json"])
        return loaded

    def alias(self, name: str) -> ModelVersionRecord | None:
        """The version ``name`` points at, or None when the alias is not set."""
        check_alias(name)
        with self._db.transaction(f"read alias {name}") as uow:
            found = uow.models.alias(name)
            return None if found is None else uow.models.require(found.version)

    def aliases(self) -> builtins.list[AliasRecord]:
        """Every set alias."""
        with self._db.transaction("list aliases") as uow:
            return uow.models.aliases()

    def set_alias(self, name: str, version: str, *, actor: str = "system") -> None:
        """Point ``name`` at a registered ``version`` (audited). Use :meth:`promote` to move
        the champion: it keeps ``previous`` right."""
        check_alias(name)
        with self._db.transaction(f"set alias {name} to {version}") as uow:
            uow.models.require(version)
            now = self._clock()
            uow.models.set_alias(name, version, now, actor)
            uow.audit.record(now, actor, "model.alias", details={"alias": name, "version": version})

    def promote(self, version: str, *, actor: str = "system", note: str = "") -> str | None:
        """Make ``version`` the champion; the champion so far becomes ``previous`` (returned;
        None if there was none). One transaction, audited."""
        with self._db.transaction(f"promote model {version}") as uow:
            return self.promote_in(uow, version, actor=actor, note=note)

    def promote_in(
        self, uow: UnitOfWork, version: str, *, actor: str, note: str = ""
    ) -> str | None:
        """:meth:`promote` inside the caller's transaction (a rollout decides and promotes in
        one commit)."""
        uow.models.require(version)
        now = self._clock()
        current = uow.models.alias(CHAMPION, lock=True)
        if current is not None and current.version == version:
            raise ConflictError(f"model {version} is already the champion")
        if current is not None:
            uow.models.set_alias(PREVIOUS, current.version, now, actor)
        uow.models.set_alias(CHAMPION, version, now, actor)
        candidate = uow.models.alias(CANDIDATE)
        if candidate is not None and candidate.version == version:
            uow.models.clear_alias(CANDIDATE)
        previous = None if current is None else current.version
        uow.audit.record(
            now,
            actor,
            "model.promote",
            details={"version": version, "previous": previous},
            note=note,
        )
        for hook in self._on_promote:
            hook(uow, version, actor, now)
        log.info("model %s promoted to champion by %s (previous: %s)", version, actor, previous)
        return previous


def register_baseline(
    registry: ModelRegistry, *, package_dir: Path | None = None, actor: str = "seed"
) -> ModelVersionRecord:
    """Register the shipped baseline package (``agent/models/baseline``) and make it the
    champion when there is none yet; idempotent (the demo and a fresh backend call it)."""
    record = registry.register(
        package_dir or default_package_path(),
        run_id=None,
        dataset_digest=None,
        parent_version=None,
        metrics={},
        actor=actor,
    )
    if registry.alias(CHAMPION) is None:
        with contextlib.suppress(ConflictError):  # another process seeded it meanwhile
            registry.promote(record.version, actor=actor, note="the shipped baseline")
    return record


def unpacked_package(registry: ModelRegistry, version: str, cache: Path) -> Path:
    """A registered version's package, unpacked once under ``cache`` from its signed archive
    (``open_archive`` checks the digest and signature; ``unpack_archive`` renames a whole
    package into place, so an existing folder is a complete one)."""
    target = cache / version
    if not target.exists():
        try:
            unpack_archive(registry.open_archive(version), target)
        except ArchiveError:
            if not target.is_dir():  # not another thread that unpacked it first
                raise
    return target


def require_alias(registry: ModelRegistry, name: str) -> ModelVersionRecord:
    """The version ``name`` points at; NotFoundError when it is not set."""
    found = registry.alias(name)
    if found is None:
        raise NotFoundError(f"no model is the {name}")
    return found
