"""Model archives: deterministic packing, safe unpacking and Ed25519 verification."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.errors import ArchiveError, FormatError, SignatureError
from core.formats.model_archive import (
    archive_digest,
    check_archive_digest,
    pack_members,
    pack_package,
    read_members,
    signed_message,
    unpack_archive,
    verify_archive,
)

FILES = {
    "model.onnx": b"\x08\x07onnx-graph" * 50,
    "metadata.json": b'{"version": "m-1"}\n',
    "embeddings.npz": os.urandom(3000),
    "scoring.npz": os.urandom(1000),
}


def make_package(root: Path, files: dict[str, bytes] = FILES) -> Path:
    root.mkdir(parents=True)
    for name, content in files.items():
        (root / name).write_bytes(content)
    return root


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_round_trip_gives_back_every_file(tmp_path: Path) -> None:
    data = pack_package(make_package(tmp_path / "pkg"))
    out = unpack_archive(data, tmp_path / "out" / "m-1")
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    for name, content in FILES.items():
        assert (out / name).read_bytes() == content
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_packing_is_deterministic_whatever_the_file_times_and_order(tmp_path: Path) -> None:
    first = pack_package(make_package(tmp_path / "a"))
    second_dir = make_package(tmp_path / "b", dict(reversed(list(FILES.items()))))
    for i, path in enumerate(sorted(second_dir.iterdir())):
        os.utime(path, (1_000_000 + i, 2_000_000 + i * 7))
        path.chmod(0o600)
    second = pack_package(second_dir)
    assert first == second and archive_digest(first) == archive_digest(second)
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(FILES)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.mode) for m in members} == {(0, 0, 0, "", 0o644)}


def test_a_changed_file_changes_the_digest(tmp_path: Path) -> None:
    base = pack_package(make_package(tmp_path / "a"))
    other = pack_package(make_package(tmp_path / "b", {**FILES, "metadata.json": b"{}"}))
    assert archive_digest(base) != archive_digest(other)


def test_a_signed_archive_verifies_and_names_its_digest(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    data = pack_package(make_package(tmp_path / "pkg"))
    signature = key.sign(signed_message(archive_digest(data)))
    assert verify_archive(data, signature, raw_public(key)) == archive_digest(data)
    assert verify_archive(archive_digest(data), signature, raw_public(key)) == archive_digest(data)


def test_a_tampered_byte_a_wrong_key_or_no_signature_is_refused(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    data = pack_package(make_package(tmp_path / "pkg"))
    digest = archive_digest(data)
    signature = key.sign(signed_message(digest))
    tampered = bytearray(data)
    tampered[len(data) // 3] ^= 0x01
    with pytest.raises(SignatureError, match="does not verify") as caught:
        verify_archive(bytes(tampered), signature, raw_public(key))
    assert archive_digest(bytes(tampered)) in str(caught.value)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_archive(data, signature, raw_public(Ed25519PrivateKey.generate()))
    for missing in (None, b""):
        with pytest.raises(SignatureError, match="unsigned"):
            verify_archive(data, missing, raw_public(key))
    with pytest.raises(SignatureError, match="63 bytes"):
        verify_archive(data, signature[:-1], raw_public(key))
    with pytest.raises(SignatureError, match="public key must be 32"):
        verify_archive(data, signature, b"short")
    # a signature of the bare digest (no context prefix) is not a model-archive signature
    with pytest.raises(SignatureError):
        verify_archive(data, key.sign(digest.encode()), raw_public(key))


def test_digest_check_names_both_digests(tmp_path: Path) -> None:
    data = pack_package(make_package(tmp_path / "pkg"))
    with pytest.raises(ArchiveError, match="expected " + "0" * 64):
        check_archive_digest(data, "0" * 64)
    assert check_archive_digest(data, archive_digest(data)) == archive_digest(data)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../model.onnx", "outside its folder"),
        ("/etc/model.onnx", "outside its folder"),
        ("sub/../../x", "outside its folder"),
        ("notes.txt", "not a package file"),
        ("sub/model.onnx", "not a package file"),
    ],
)
def test_unsafe_or_unexpected_members_are_refused(tmp_path: Path, name: str, message: str) -> None:
    data = pack_members([*FILES.items(), (name, b"evil")])
    with pytest.raises(ArchiveError, match=message):
        unpack_archive(data, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE])
def test_links_and_folders_are_refused(tmp_path: Path, kind: bytes) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content in FILES.items():
            if name == "model.onnx":
                continue
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        link = tarfile.TarInfo("model.onnx")
        link.type = kind
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(ArchiveError, match="not a regular file"):
        read_members(buffer.getvalue())


def test_duplicates_missing_files_garbage_and_oversize_are_refused(tmp_path: Path) -> None:
    twice = pack_members([*FILES.items(), ("model.onnx", b"second")])
    with pytest.raises(ArchiveError, match="twice"):
        read_members(twice)
    without = pack_members([(k, v) for k, v in FILES.items() if k != "model.onnx"])
    with pytest.raises(ArchiveError, match=r"missing \['model.onnx'\]"):
        read_members(without)
    with pytest.raises(ArchiveError, match="not a valid tar"):
        read_members(b"\x00garbage" * 100)
    with pytest.raises(ArchiveError, match="more than 100"):
        read_members(pack_members(FILES.items()), max_member_bytes=100)
    assert issubclass(ArchiveError, FormatError)


def test_a_truncated_archive_is_refused(tmp_path: Path) -> None:
    data = pack_members(FILES.items())
    with pytest.raises(ArchiveError):
        read_members(data[:1500])


def test_unpack_never_touches_an_existing_folder(tmp_path: Path) -> None:
    target = make_package(tmp_path / "current", {"model.onnx": b"running model"})
    with pytest.raises(ArchiveError, match="already exists"):
        unpack_archive(pack_members(FILES.items()), target)
    assert (target / "model.onnx").read_bytes() == b"running model"


def test_packing_refuses_links_strays_and_missing_files(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "pkg")
    (pkg / "notes.txt").write_text("x")
    with pytest.raises(ArchiveError, match=r"unexpected entries \['notes.txt'\]"):
        pack_package(pkg)
    (pkg / "notes.txt").unlink()
    (pkg / "scoring.npz").unlink()
    (pkg / "scoring.npz").symlink_to(pkg / "embeddings.npz")
    with pytest.raises(ArchiveError, match="regular files"):
        pack_package(pkg)
    (pkg / "scoring.npz").unlink()
    (pkg / "model.onnx").unlink()
    with pytest.raises(ArchiveError, match=r"missing \['model.onnx'\]"):
        pack_package(pkg)
    with pytest.raises(ArchiveError, match="does not exist"):
        pack_package(tmp_path / "nowhere")
