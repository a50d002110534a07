"""The OpenAPI schema served at /api/schema/ documents every endpoint of the API contract."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db

# (method, path) of every endpoint the API contract promises; the CLI is written against it.
CONTRACT = [
    ("post", "/api/jobs/dry-run/"),
    ("get", "/api/dry-runs/{dry_run_uuid}/"),
    ("post", "/api/auth/token/"),
    ("get", "/api/me/"),
    ("get", "/api/models/"),
    ("post", "/api/models/"),
    ("get", "/api/models/{model_uuid}/"),
    ("get", "/api/models/{model_uuid}/snapshots/"),
    ("post", "/api/models/{model_uuid}/snapshots/"),
    ("get", "/api/models/{model_uuid}/promotions/"),
    ("get", "/api/snapshots/{snapshot_uuid}/"),
    ("post", "/api/snapshots/{snapshot_uuid}/promote/"),
    ("get", "/api/runtimes/"),
    ("get", "/api/runtimes/{runtime}/"),
    ("post", "/api/uploads/"),
    ("post", "/api/uploads/reuse/"),
    ("get", "/api/connections/"),
    ("get", "/api/jobs/"),
    ("post", "/api/jobs/"),
    ("get", "/api/jobs/{job_uuid}/"),
    ("post", "/api/jobs/{job_uuid}/cancel/"),
    ("post", "/api/jobs/{job_uuid}/rerun/"),
    ("get", "/api/jobs/{job_uuid}/log/"),
    ("get", "/api/jobs/{job_uuid}/result/"),
    ("get", "/api/jobs/{job_uuid}/output/"),
    ("get", "/api/jobs/{job_uuid}/rejects/"),
    ("get", "/api/jobs/{job_uuid}/diff/"),
    ("get", "/api/processes/"),
    ("get", "/api/processes/{uuid}/"),
    ("get", "/api/processes/{uuid}/runs/"),
    ("post", "/api/processes/{uuid}/runs/"),
    ("get", "/api/processes/{uuid}/triggers/"),
    ("post", "/api/processes/{uuid}/triggers/"),
    ("get", "/api/processes/{uuid}/triggers/{trigger_uuid}/"),
    ("patch", "/api/processes/{uuid}/triggers/{trigger_uuid}/"),
    ("delete", "/api/processes/{uuid}/triggers/{trigger_uuid}/"),
    ("get", "/api/process-runs/{uuid}/"),
    ("post", "/api/process-runs/{uuid}/approve/"),
    ("post", "/api/process-runs/{uuid}/retry/"),
]


@pytest.fixture
def schema(alice_api) -> dict:
    answer = alice_api.get("/api/schema/", {"format": "json"})
    assert answer.status_code == 200
    return answer.json()


def test_the_schema_is_valid_openapi(schema):
    validate(schema)
    assert schema["openapi"].startswith("3.1")


def test_every_endpoint_of_the_contract_is_in_the_schema(schema):
    documented = {(m, path) for path, ops in schema["paths"].items() for m in ops}

    missing = [endpoint for endpoint in CONTRACT if endpoint not in documented]
    assert not missing
    undocumented_extra = documented - set(CONTRACT)
    assert not undocumented_extra, "an endpoint outside the contract: add it there too"


def test_the_schema_documents_token_auth_and_the_job_filters(schema):
    assert schema["components"]["securitySchemes"]["tokenAuth"]["type"] == "apiKey"
    job_list = schema["paths"]["/api/jobs/"]["get"]
    names = {p["name"] for p in job_list["parameters"]}
    assert {"status", "job_type", "model", "snapshot", "created_by", "runtime"} <= names
    assert {"page", "page_size"} <= names
    create = schema["paths"]["/api/jobs/"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}
    assert set(create["responses"]) >= {"200", "201"}
    assert {"tokenAuth": []} in schema["paths"]["/api/me/"]["get"]["security"]
    token = schema["paths"]["/api/auth/token/"]["post"]
    assert token.get("security") in (None, [], [{}])  # logging in needs no token


def test_the_model_form_is_documented_as_multipart_with_files(schema):
    body = schema["paths"]["/api/models/"]["post"]["requestBody"]["content"]
    assert list(body) == ["multipart/form-data"] or "multipart/form-data" in body
    ref = body["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    properties = schema["components"]["schemas"][ref]["properties"]
    assert properties["source"]["format"] == "binary"
    assert properties["attachments"]["items"]["format"] == "binary"
