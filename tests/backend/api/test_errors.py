"""Every refusal is documented on every operation (``errors.RESPONSES``), so a client generated
from the OpenAPI document knows the shape of a 401, 404, 409 and of both kinds of 422, and
``GET /openapi.json`` is the document :func:`openapi_document` builds without services."""

from __future__ import annotations

from pathlib import Path

from backend.api.app import openapi_document
from backend.api.errors import ErrorOut, ValidationErrorOut
from backend.wiring import build_api, build_backend, local_config
from tests.fixtures.http import serve

METHODS = {"get", "put", "post", "delete", "patch"}


def test_every_operation_documents_the_refusals() -> None:
    document = openapi_document()
    operations = [
        (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]
    assert len(operations) > 40
    for path, method, op in operations:
        responses = op["responses"]
        assert {"4XX", "422", "503"} <= set(responses), (method, path, sorted(responses))
        schema = responses["422"]["content"]["application/json"]["schema"]
        refs = {s["$ref"].rsplit("/", 1)[-1] for s in schema["anyOf"]}
        assert refs == {"ErrorOut", "ValidationErrorOut"}, (method, path)


def test_the_documented_shapes_are_the_answers(tmp_path: Path) -> None:
    backend = build_backend(local_config(tmp_path))
    try:
        with serve(build_api(backend)) as client:
            assert client.get("/openapi.json").json() == openapi_document()
            missing = client.get("/auth/me")
            assert missing.status_code == 401
            ErrorOut.model_validate(missing.json())
            token = backend.people.create("boss", "admin")
            auth = {"Authorization": f"Bearer {token}"}
            by_rule = client.post("/people", json={"name": "x", "role": "pilot"}, headers=auth)
            assert by_rule.status_code == 422 and "pilot" in by_rule.json()["detail"]
            ErrorOut.model_validate(by_rule.json())
            by_schema = client.post("/people", json={"name": 3}, headers=auth)
            assert by_schema.status_code == 422
            ValidationErrorOut.model_validate(by_schema.json())
    finally:
        backend.close()
