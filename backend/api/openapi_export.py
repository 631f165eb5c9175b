"""Write the API's OpenAPI schema for the labelling tool's generated client.

``python -m backend.api.openapi_export annotator/src/api/openapi.json`` writes the schema the app
serves at ``/openapi.json``; ``npm run gen:api`` in ``annotator/`` then turns it into TypeScript
types (``schema.d.ts``). ``make api-client`` runs both; ``tests/annotator/test_api_client_fresh.py``
fails when either committed file differs from a fresh generation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from backend.api.app import openapi_document

#: where the app keeps the schema it is generated from
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "annotator" / "src" / "api" / "openapi.json"


def schema() -> dict[str, Any]:
    """The OpenAPI document of every route (building it touches no service)."""
    return openapi_document()


def render() -> str:
    """The schema as committed: two-space JSON in the app's own key order, one final newline."""
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.out.write_text(render(), encoding="utf-8")
    print(f"wrote {args.out.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
