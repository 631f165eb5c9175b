"""The labelling tool's committed API client is what ``make api-client`` produces now: the
OpenAPI schema the backend serves, and the TypeScript types openapi-typescript makes of it
(like the protobuf stubs, tests/proto/test_stubs_fresh.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from backend.api.openapi_export import render

APP = Path(__file__).resolve().parents[2] / "annotator"
SCHEMA = APP / "src" / "api" / "openapi.json"
TYPES = APP / "src" / "api" / "schema.d.ts"
GENERATOR = APP / "node_modules" / ".bin" / "openapi-typescript"


def test_committed_openapi_schema_is_the_servers() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == render(), (
        "annotator/src/api/openapi.json is stale: run `make api-client`"
    )


def test_committed_typescript_types_match_a_fresh_generation(tmp_path: Path) -> None:
    assert GENERATOR.exists(), f"{GENERATOR} is missing: run `make setup` (npm ci in annotator/)"
    out = tmp_path / "schema.d.ts"
    subprocess.run(
        [str(GENERATOR), str(SCHEMA), "-o", str(out)],
        cwd=APP,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert TYPES.read_text(encoding="utf-8") == out.read_text(encoding="utf-8"), (
        "annotator/src/api/schema.d.ts is stale: run `make api-client`"
    )
