"""POST /api/jobs/dry-run/ and GET /api/dry-runs/<uuid>/: a job tried on a sample through a
real Celery worker; refusals are 400 with the reason; a dry run is its creator's alone."""

from __future__ import annotations

import time
import uuid

import pytest

from jobs.models import Job
from models_registry import demo
from tests.api.conftest import assert_matches_schema, token_client
from tests.api.test_e2e_api import upload
from tests.demo import demo_snapshot


@pytest.fixture
def media_in_tmp():
    """The worker process reads attachments and uploads from the configured MEDIA_ROOT: keep it."""


def wait_for(api, answer: dict, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail = api.get(answer["url"])
        assert detail.status_code == 200
        if detail.json()["status"] in ("done", "error"):
            assert_matches_schema(detail)
            return detail.json()
        time.sleep(0.2)
    raise AssertionError(f"dry run {answer['uuid']} did not end in {timeout} s")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_dry_run_scores_the_first_records_on_a_worker_and_makes_no_job(
    celery_worker, alice, bob, team_alpha, tmp_path
):
    api = token_client(alice)
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    path = demo.write_sample_jsonl(tmp_path / "iris.jsonl", 300)
    body = {
        "snapshot": str(snapshot.uuid),
        "inputs": [{"kind": "upload", "upload": upload(api, "iris.jsonl", path.read_bytes())}],
        "input_schema": "input_schema.avsc",
        "check_input_schema": True,
        "runtime": "default",
    }
    created = api.post("/api/jobs/dry-run/", body, format="json")
    assert created.status_code == 201, created.content
    assert_matches_schema(created)
    result = wait_for(api, created.json())
    assert result["status"] == "done", result.get("result")
    assert result["result"]["counts"]["records_read"] == 100
    assert len(result["result"]["output"]["rows"]) == 100
    assert result["result"]["schema_checks"][0]["ok"] is True
    assert not Job.objects.exists()
    # Bob is Alice's teammate, but her dry run is hers.
    assert token_client(bob).get(created.json()["url"]).status_code == 404


@pytest.mark.django_db
def test_a_dry_run_of_an_unknown_snapshot_is_a_400(alice_api):
    answer = alice_api.post(
        "/api/jobs/dry-run/",
        {"snapshot": str(uuid.uuid4()), "inputs": [{"kind": "embedded", "data": "{}"}]},
        format="json",
    )
    assert answer.status_code == 400 and "snapshot" in answer.json()


@pytest.mark.django_db
def test_a_dry_run_with_an_s3_input_is_refused_with_the_reason(alice_api, alice_snapshot):
    from jobs.models import Runtime

    Runtime.objects.get_or_create(name="default", defaults={"queue": "default"})
    answer = alice_api.post(
        "/api/jobs/dry-run/",
        {
            "snapshot": str(alice_snapshot.uuid),
            "runtime": "default",
            "inputs": [
                {"kind": "embedded", "data": '{"x": 1}\n'},
                {"kind": "embedded", "data": ""},
            ],
            "job_type": "nonsense",
        },
        format="json",
    )
    assert answer.status_code == 400


@pytest.mark.django_db
def test_dry_runs_ask_for_a_token(anon_api):
    assert anon_api.post("/api/jobs/dry-run/", {}, format="json").status_code == 401
    assert anon_api.get(f"/api/dry-runs/{uuid.uuid4()}/").status_code == 401


@pytest.mark.django_db
def test_an_unknown_dry_run_is_a_json_404(alice_api):
    answer = alice_api.get(f"/api/dry-runs/{uuid.uuid4()}/")
    assert answer.status_code == 404 and "detail" in answer.json()
