"""The release signing key file: created 0600, never replaced, refused when others may read it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from backend.errors import SigningKeyError
from backend.release.signing import Signer, generate_key_file, load_signer
from core.formats.model_archive import archive_digest, verify_archive


def test_keygen_writes_a_private_key_only_its_owner_can_read(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.key"
    signer = generate_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert b"PRIVATE KEY" in path.read_bytes()
    loaded = Signer.from_key_file(path)
    assert loaded.public_key == signer.public_key and len(loaded.public_key) == 32
    assert loaded.public_key_hex == signer.public_key.hex()
    digest = archive_digest(b"an archive")
    assert verify_archive(digest, loaded.sign(digest), signer.public_key) == digest
    assert [p.name for p in path.parent.iterdir()] == ["signing.key"]  # no temp file left


def test_an_existing_key_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    first = generate_key_file(path)
    before = path.read_bytes()
    with pytest.raises(SigningKeyError, match="already exists"):
        generate_key_file(path)
    assert path.read_bytes() == before
    assert load_signer(path, create=True).public_key == first.public_key


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o640])
def test_a_key_others_may_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "signing.key"
    generate_key_file(path)
    path.chmod(mode)
    with pytest.raises(SigningKeyError, match=f"mode {mode:04o}.*chmod 600"):
        Signer.from_key_file(path)


def test_missing_garbage_and_foreign_keys_are_refused_with_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    with pytest.raises(SigningKeyError, match=f"{path} does not exist.*keygen"):
        load_signer(path, create=False)
    path.write_bytes(b"not a key")
    path.chmod(0o600)
    with pytest.raises(SigningKeyError, match="no unencrypted PEM private key"):
        Signer.from_key_file(path)
    ec = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(ec)
    with pytest.raises(SigningKeyError, match="not an Ed25519 key"):
        Signer.from_key_file(path)


def test_first_use_creates_the_key_when_allowed(tmp_path: Path) -> None:
    path = tmp_path / "data" / "release" / "signing.key"
    signer = load_signer(path, create=True)
    assert path.is_file() and Signer.from_key_file(path).public_key == signer.public_key
