"""Regenerate the committed protobuf/gRPC stubs: ``python proto/generate.py``.

The stubs live next to their ``.proto`` files under ``proto/longtail/v1``, the import path that
matches the ``longtail.v1`` package, so ``import longtail.v1.frame_pb2`` works everywhere.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent


def proto_files() -> list[Path]:
    """Every ``.proto`` file of the project, sorted for a stable generation order."""
    return sorted(PROTO_ROOT.glob("longtail/**/*.proto"))


def generate(out_dir: Path) -> None:
    """Run protoc (from grpcio-tools) over every contract, writing stubs and typing stubs to out_dir."""
    from grpc_tools import protoc  # dev dependency, imported only when generating

    include = Path(protoc.__file__).resolve().parent / "_proto"
    bin_dir = Path(sys.executable).parent  # mypy-protobuf's plugins live beside the interpreter
    args = [
        "grpc_tools.protoc",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *[str(p.relative_to(PROTO_ROOT)) for p in proto_files()],
    ]
    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code} for {args}")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_ROOT)
    print(f"generated stubs for {len(proto_files())} proto files under {PROTO_ROOT}")
