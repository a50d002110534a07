"""Bad input through a real worker: each job ends with a message a person can act on, the job
page shows it (never a 500), and the worker goes on serving."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from jobs.models import JobAsset, JobStatus
from jobs.services import InputSpec, job_submit, upload_create
from models_registry import demo
from tests.conftest import wait_for_job
from tests.demo import demo_snapshot

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

GOOD_ROW = (
    b'{"id": 1, "sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}\n'
)


def _run(user, snapshot, name: str, content: bytes):
    upload = upload_create(owner=user, content=ContentFile(content, name=name))
    job = job_submit(
        user=user, snapshot=snapshot, inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload)]
    )
    return wait_for_job(job)


def test_a_malformed_input_file_ends_in_error_naming_the_file(
    celery_worker, alice, alice_client, team_alpha
):
    job = _run(
        alice, demo_snapshot(owner=alice, team=team_alpha), "broken.parquet",
        b"PAR1 this is not parquet",
    )  # fmt: skip

    assert job.status == JobStatus.ERROR
    assert "broken.parquet" in job.error_message
    assert not job.output_asset().file
    page = alice_client.get(job.get_absolute_url())
    assert page.status_code == 200
    assert "broken.parquet" in page.content.decode()


@pytest.mark.parametrize(
    ("name", "content", "line", "reason"),
    [
        ("broken.jsonl", GOOD_ROW + b'{"id": 2, "sepal_length": \n', 2, "invalid JSON"),
        ("broken.csv", b"id,sepal_length\n1,5.1\n2,5.0,9,9\n", 3, "Expected 2 fields, saw 4"),
        ("latin1.jsonl", GOOD_ROW + b'{"id": 2, "name": "caf\xe9"}\n', 2, "not UTF-8"),
    ],
    ids=["json-lines", "csv", "encoding"],
)
def test_a_record_that_cannot_be_decoded_is_rejected_naming_its_line(
    celery_worker, alice, alice_client, team_alpha, name, content, line, reason
):
    job = _run(alice, demo_snapshot(owner=alice, team=team_alpha), name, content)

    assert (job.status, job.result) == (JobStatus.COMPLETE, "FAILURE"), job.error_message
    assert f"rejected input record 2 (line {line}) of '{name}': {reason}" in job.log
    page = alice_client.get(job.get_absolute_url())
    assert page.status_code == 200
    assert "Rejected records" in page.content.decode() and reason in page.content.decode()


def test_an_empty_input_completes_with_zero_records(celery_worker, alice, team_alpha):
    job = _run(alice, demo_snapshot(owner=alice, team=team_alpha), "empty.jsonl", b"")

    assert job.status == JobStatus.COMPLETE
    assert (job.records_read, job.records_written) == (0, 0)


def test_a_model_whose_init_fails_ends_in_error_saying_so(
    celery_worker, alice, alice_client, team_alpha
):
    source = demo.source().replace('open("model.pickle"', 'open("missing.pickle"')
    job = _run(
        alice, demo_snapshot(owner=alice, team=team_alpha, source=source), "ok.jsonl", GOOD_ROW
    )

    assert job.status == JobStatus.ERROR
    assert "init function 'begin' failed" in job.error_message
    assert "missing.pickle" in job.error_message
    assert alice_client.get(job.get_absolute_url()).status_code == 200
