"""Jobs submitted through the API run on a real Celery worker; their result, output and log
are read back through the API, as the moc CLI does."""

from __future__ import annotations

import time

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from models_registry import demo
from models_registry.models import Model
from tests.api.conftest import assert_matches_schema, token_client
from tests.demo import demo_snapshot

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def media_in_tmp():
    """The worker process reads uploads from the configured MEDIA_ROOT: keep it."""


def wait_through_api(api, job: dict, *, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail = api.get(f"/api/jobs/{job['uuid']}/")
        assert detail.status_code == 200
        if detail.json()["status"] in ("COMPLETE", "ERROR", "CANCELLED"):
            assert_matches_schema(detail)
            return detail.json()
        time.sleep(0.2)
    raise AssertionError(f"job {job['uuid']} did not end in {timeout}s")


def upload(api, name: str, data: bytes) -> str:
    answer = api.post("/api/uploads/", {"file": SimpleUploadedFile(name, data)}, format="multipart")
    assert answer.status_code == 201, answer.content
    return answer.json()["uuid"]


def test_a_scoring_job_from_the_api_completes_and_its_result_can_be_fetched(
    celery_worker, alice, team_alpha, tmp_path
):
    api = token_client(alice)
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    path = demo.write_sample_jsonl(tmp_path / "iris.jsonl", None)
    body = {
        "snapshot": str(snapshot.uuid),
        "inputs": [{"kind": "upload", "upload": upload(api, "iris.jsonl", path.read_bytes())}],
        "output": {"kind": "file", "name": "scores.jsonl"},
        "input_schema": "input_schema.avsc",
        "check_input_schema": True,
    }

    created = api.post("/api/jobs/", body, format="json", HTTP_IDEMPOTENCY_KEY="iris-1")
    assert created.status_code == 201, created.content
    job = wait_through_api(api, created.json())

    assert job["status"] == "COMPLETE", job["error_message"]
    assert (job["records_read"], job["records_written"], job["percent"]) == (150, 150, 100.0)
    assert job["worker"] and job["started_at"] and job["attempts"] == 1
    result = api.get(job["links"]["result"])
    assert result.status_code == 200
    assert_matches_schema(result)
    answer = result.json()
    assert (answer["result"], answer["records_written"]) == ("SUCCESS", 150)
    assert answer["output"]["name"] == "scores.jsonl" and answer["rejects_url"] is None
    output = api.get(answer["download_url"])
    assert output.status_code == 200
    assert 'filename="scores.jsonl"' in output["Content-Disposition"]
    records = [orjson.loads(line) for line in b"".join(output.streaming_content).splitlines()]
    assert len(records) == 150 and "predicted_species" in records[0]
    log = api.get(job["links"]["log"])
    assert log.status_code == 200 and log.json()["status"] == "COMPLETE"
    assert_matches_schema(log)
    cancel = api.post(f"/api/jobs/{job['uuid']}/cancel/")
    assert cancel.status_code == 409
    # The same key again: the same job, nothing new.
    again = api.post("/api/jobs/", body, format="json", HTTP_IDEMPOTENCY_KEY="iris-1")
    assert (again.status_code, again.json()["uuid"]) == (200, job["uuid"])


def test_training_then_metrics_from_the_api(celery_worker, alice, team_alpha, tmp_path, settings):
    settings.DATA_DIR = tmp_path  # where load_demo writes the labeled samples
    call_command("load_demo", owner="alice", team="alpha")
    model = Model.objects.get(name="Credit approval (demo)")
    api = token_client(alice)
    train_csv = (tmp_path / "demo" / "credit_train.csv").read_bytes()
    test_csv = (tmp_path / "demo" / "credit_test.csv").read_bytes()

    training = api.post(
        "/api/jobs/",
        {
            "model": str(model.uuid),
            "job_type": "trainingjob",
            "inputs": [{"kind": "upload", "upload": upload(api, "train.csv", train_csv)}],
        },
        format="json",
    )
    assert training.status_code == 201, training.content
    trained = wait_through_api(api, training.json())
    assert trained["status"] == "COMPLETE", trained["error_message"]
    result = api.get(trained["links"]["result"])
    assert_matches_schema(result)
    new = result.json()["result_snapshot"]
    assert new["version"] == 2 and new["model"] == {"uuid": str(model.uuid), "name": model.name}
    assert trained["result_snapshot"] == {"uuid": new["uuid"], "version": 2}

    metrics = api.post(
        "/api/jobs/",
        {
            "model": str(model.uuid),  # its newest snapshot: the trained one
            "job_type": "testjob",
            "inputs": [{"kind": "upload", "upload": upload(api, "test.csv", test_csv)}],
        },
        format="json",
    )
    assert metrics.status_code == 201, metrics.content
    assert metrics.json()["snapshot"]["uuid"] == new["uuid"]
    measured = wait_through_api(api, metrics.json())
    assert measured["status"] == "COMPLETE", measured["error_message"]
    assert measured["metrics_available"] is True
    answer = api.get(measured["links"]["result"]).json()
    assert 0.5 < answer["metrics"]["auc"] <= 1
