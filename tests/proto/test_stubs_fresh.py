"""The committed protobuf/gRPC stubs are exactly what ``proto/generate.py`` produces now."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto"


def _generate_module() -> object:
    spec = importlib.util.spec_from_file_location("proto_generate", PROTO / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_stubs_match_a_fresh_generation(tmp_path: Path) -> None:
    generate = _generate_module()
    generate.generate(tmp_path)  # type: ignore[attr-defined]
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert fresh, "protoc generated nothing"
    committed = {
        p.relative_to(PROTO): p.read_bytes()
        for p in PROTO.glob("longtail/**/*_pb2*.py*")
        if p.is_file()
    }
    stale = sorted(str(k) for k in fresh if committed.get(k) != fresh[k])
    extra = sorted(str(k) for k in committed if k not in fresh)
    assert not stale, f"stubs out of date, run `{sys.executable} proto/generate.py`: {stale}"
    assert not extra, f"committed stubs with no .proto: {extra}"
