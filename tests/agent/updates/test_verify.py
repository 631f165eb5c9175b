"""The vehicle's checks before a package exists: digest, then signature, then a safe unpack
(``core.formats.model_archive``), each failure a PackageRefusedError with nothing unpacked."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.errors import PackageRefusedError
from agent.updates.verify import check_version, verify_and_unpack
from core.formats.model_archive import archive_digest, pack_members
from tests.backend.release.fake_delivery import raw_public_key, sign

FILES = [("embeddings.npz", b"e" * 300), ("metadata.json", b"{}"), ("model.onnx", b"graph" * 100)]


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _verify(
    tmp_path: Path,
    archive: bytes,
    key: Ed25519PrivateKey,
    *,
    stored: bytes | None = None,
    signature: bytes | None = None,
    digest: str | None = None,
    max_unpacked_bytes: int | None = None,
) -> Path:
    """Verify ``stored`` (default: ``archive``) as the assignment of ``archive`` says."""
    path = tmp_path / "v2.part"
    path.write_bytes(archive if stored is None else stored)
    dest = tmp_path / "out"
    extra = {} if max_unpacked_bytes is None else {"max_unpacked_bytes": max_unpacked_bytes}
    verify_and_unpack(
        path,
        "v2",
        archive_digest(archive) if digest is None else digest,
        sign(key, archive) if signature is None else signature,
        raw_public_key(key),
        dest,
        **extra,
    )
    return dest


def test_a_signed_archive_unpacks(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    dest = _verify(tmp_path, pack_members(FILES), key)
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == dict(FILES)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("tampered", "has digest"),
        ("truncated", "has digest"),
        ("unsigned", "unsigned"),
        ("other_key", "does not verify"),
        ("signature_of_other_bytes", "does not verify"),
        ("digest_not_hex", "not 64 lower-case hex"),
    ],
)
def test_bad_archives_are_refused_before_unpacking(
    tmp_path: Path, key: Ed25519PrivateKey, case: str, message: str
) -> None:
    archive = pack_members(FILES)
    kw: dict[str, object] = {}
    if case == "tampered":
        flipped = bytearray(archive)
        flipped[600] ^= 0x01
        kw["stored"] = bytes(flipped)
    elif case == "truncated":
        kw["stored"] = archive[:-512]
    elif case == "unsigned":
        kw["signature"] = b""
    elif case == "other_key":
        kw["signature"] = sign(Ed25519PrivateKey.generate(), archive)
    elif case == "signature_of_other_bytes":
        kw["signature"] = sign(key, archive + b"\0")
    else:
        kw["digest"] = "not-a-digest"
    with pytest.raises(PackageRefusedError, match=message) as refused:
        _verify(tmp_path, archive, key, **kw)  # type: ignore[arg-type]
    assert refused.value.version == "v2"
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["v2.part"]  # no temporary left behind


@pytest.mark.parametrize(
    ("member", "message"),
    [("../model.onnx", "outside its folder"), ("notes.txt", "not a package file")],
)
def test_a_signed_archive_with_foreign_members_is_still_refused(
    tmp_path: Path, key: Ed25519PrivateKey, member: str, message: str
) -> None:
    archive = pack_members([*FILES, (member, b"x")])
    with pytest.raises(PackageRefusedError, match=message):
        _verify(tmp_path, archive, key)
    assert not (tmp_path / "out").exists() and not (tmp_path / "model.onnx").exists()


def test_the_unpacked_size_is_capped(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    with pytest.raises(PackageRefusedError, match="more than 600 bytes"):
        _verify(tmp_path, pack_members(FILES), key, max_unpacked_bytes=600)
    assert not (tmp_path / "out").exists()


def test_the_announced_digest_may_be_upper_case_hex(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    archive = pack_members(FILES)
    digest = hashlib.sha256(archive).hexdigest().upper()
    assert (_verify(tmp_path, archive, key, digest=digest) / "model.onnx").is_file()


@pytest.mark.parametrize("bad", ["", "../x", ".hidden", "..", "a/b", "x" * 129, "v 2"])
def test_versions_that_are_not_directory_names_are_refused(bad: str) -> None:
    with pytest.raises(PackageRefusedError):
        check_version(bad)
    for good in ("candidate-2026.12.05_1", "_v2", "-x"):
        assert check_version(good) == good
