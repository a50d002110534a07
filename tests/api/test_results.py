"""The result, output and rejects of finished jobs (made here as the worker leaves them)."""

from __future__ import annotations

import pytest
import requests
from django.core.files.base import ContentFile

from jobs.models import Job, JobAsset, JobStatus, JobType
from jobs.services import runtime_default
from tests.api.conftest import assert_matches_schema

pytestmark = pytest.mark.django_db


def finished_job(snapshot, user, *, output: JobAsset, **fields) -> Job:
    fields.setdefault("result", "SUCCESS")
    job = Job.objects.create(
        snapshot=snapshot, created_by=user, runtime=runtime_default(), status=JobStatus.COMPLETE,
        **fields,
    )  # fmt: skip
    JobAsset.objects.create(job=job, direction="in", kind="embedded", data='{"x": 1}\n', size=9)
    output.job, output.direction = job, "out"
    output.save()
    return job


def test_a_file_output_and_its_rejects_are_linked_and_served(alice_api, alice_snapshot, alice):
    output = JobAsset(kind="file", name="scores.csv", format="csv")
    output.file.save("scores.csv", ContentFile(b"x,doubled\n1,2\n"), save=False)
    output.rejects_file.save("rejects.jsonl", ContentFile(b'{"reason": "x missing"}\n'), save=False)
    job = finished_job(
        alice_snapshot, alice, output=output, result="FAILURE", records_written=1,
        records_rejected=1,
    )  # fmt: skip

    result = alice_api.get(f"/api/jobs/{job.uuid}/result/")

    assert result.status_code == 200
    assert_matches_schema(result)
    body = result.json()
    assert (body["result"], body["records_rejected"]) == ("FAILURE", 1)
    assert body["download_url"] == f"http://testserver/api/jobs/{job.uuid}/output/"
    assert body["rejects_url"] == f"http://testserver/api/jobs/{job.uuid}/rejects/"
    served = alice_api.get(body["download_url"], HTTP_ACCEPT="text/csv")
    assert served.status_code == 200 and served["Content-Type"].startswith("text/csv")
    assert b"".join(served.streaming_content) == b"x,doubled\n1,2\n"
    rejects = alice_api.get(body["rejects_url"])
    assert rejects.status_code == 200
    assert b"x missing" in b"".join(rejects.streaming_content)


def test_an_output_missing_from_storage_is_404_not_500(alice_api, alice_snapshot, alice):
    output = JobAsset(kind="embedded", name="output.jsonl")
    output.file.name = "jobs/gone/output.jsonl"
    job = finished_job(alice_snapshot, alice, output=output)

    answer = alice_api.get(f"/api/jobs/{job.uuid}/output/")

    assert answer.status_code == 404
    assert "missing" in answer.json()["detail"]


def test_a_metrics_result_carries_the_metrics(alice_api, alice_snapshot, alice):
    job = finished_job(
        alice_snapshot, alice, output=JobAsset(kind="embedded", name="output.jsonl"),
        job_type=JobType.METRICS, metrics={"auc": 0.9, "roc_curve": [{"fpr": 0, "tpr": 0}]},
    )  # fmt: skip

    result = alice_api.get(f"/api/jobs/{job.uuid}/result/")

    assert_matches_schema(result)
    assert result.json()["metrics"]["auc"] == 0.9
    assert result.json()["download_url"] is None  # nothing was written


def test_an_s3_output_gets_a_working_presigned_link(
    alice_api, alice_snapshot, alice, s3_server, s3_bucket
):
    connection = s3_server.connection()
    connection.save()
    s3_server.client().put_object(Bucket=s3_bucket, Key="out/scores.jsonl", Body=b'{"x": 1}\n')
    location = f"s3://{s3_bucket}/out/scores.jsonl"
    output = JobAsset(
        kind="s3", name=location, connection=connection, location=location,
        published={"location": location, "bytes": 9},
    )  # fmt: skip
    job = finished_job(alice_snapshot, alice, output=output)

    result = alice_api.get(f"/api/jobs/{job.uuid}/result/")

    assert_matches_schema(result)
    link = result.json()["download_url"]
    assert link.startswith(s3_server.endpoint) and "Signature" in link
    assert requests.get(link, timeout=10).content == b'{"x": 1}\n'
    assert result.json()["output"]["published"]["bytes"] == 9
    assert connection.secret_access_key not in result.content.decode()
