"""Jobs through a real Celery worker process: PostgreSQL and Redis when DATABASE_URL and
BROKER_URL are set (as in CI), SQLite and the embedded broker otherwise."""

from __future__ import annotations

import time

import orjson
import pytest
from django.conf import settings
from django.db import connection

from commandcenter.celery import app
from jobs.models import JobAsset, JobStatus
from jobs.services import InputSpec, job_cancel, job_enqueue, job_submit
from models_registry import demo
from tests.conftest import wait_for_job
from tests.demo import demo_snapshot, sample_upload

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SPECIES = {"setosa", "versicolor", "virginica"}

SLOW_SOURCE = """\
import time

# modelop.score
def action(datum):
    time.sleep(0.05)
    yield datum
"""


def _submit(user, snapshot, upload, **options):
    return job_submit(
        user=user,
        snapshot=snapshot,
        inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload)],
        **options,
    )


def test_scoring_job_runs_to_complete_through_a_real_worker(
    celery_worker, alice, team_alpha, tmp_path
):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    upload = sample_upload(owner=alice, tmp_path=tmp_path)

    job = wait_for_job(
        _submit(alice, snapshot, upload, input_schema="input_schema.avsc", check_input_schema=True)
    )

    assert job.status == JobStatus.COMPLETE, job.error_message
    assert (job.records_read, job.records_written, job.records_rejected) == (150, 150, 0)
    output = job.output_asset()
    with output.file.open("rb") as f:
        records = [orjson.loads(line) for line in f]
    assert len(records) == 150
    assert {r["predicted_species"] for r in records} <= SPECIES
    assert [r["id"] for r in records] == list(range(1, 151))


def test_the_worker_suite_runs_on_postgresql_and_redis_when_configured(celery_worker):
    if not (settings.DATABASE_URL and settings.BROKER_URL):
        pytest.skip("DATABASE_URL and BROKER_URL are not set: this run uses the embedded default")
    assert connection.vendor == "postgresql"
    assert app.conf.broker_url.startswith("redis://")
    assert "redis://" in celery_worker.log_path.read_text()


def test_a_model_that_raises_ends_in_error_and_the_worker_keeps_serving(
    celery_worker, alice, team_alpha, tmp_path
):
    broken = demo.source().replace("df[FEATURES]", 'df[["no_such_column"]]')
    bad = demo_snapshot(owner=alice, team=team_alpha, source=broken)
    upload = sample_upload(owner=alice, tmp_path=tmp_path)

    # A score that raises rejects its records; with stop-on-bad-records the first ends the job.
    failed = wait_for_job(_submit(alice, bad, upload, stop_on_bad_records=True))
    good = wait_for_job(_submit(alice, demo_snapshot(owner=alice, team=team_alpha), upload))

    assert failed.status == JobStatus.ERROR
    assert "no_such_column" in failed.error_message
    assert "Traceback" in failed.log
    assert not failed.output_asset().file
    assert good.status == JobStatus.COMPLETE


REJECTING_SOURCE = """\
import math

# modelop.score
def action(datum):
    if datum["x"] == 0:
        raise ValueError("x is zero")
    yield {"x": datum["x"], "score": math.nan if datum["x"] == 9 else 1 / datum["x"]}
"""


def test_bad_records_are_rejected_and_the_job_completes_with_failure_through_a_real_worker(
    celery_worker, alice, team_alpha
):
    from django.core.files.base import ContentFile

    from jobs.services import upload_create
    from models_registry.services import model_create

    snapshot = model_create(
        owner=alice, team=team_alpha, name="rejecting", source_name="model.py",
        source=REJECTING_SOURCE,
    ).latest_snapshot()  # fmt: skip
    data = b'{"x": 1}\n{"x": 0}\n{"x": \n{"x": "caf\xe9"}\n{"x": 9}\n{"x": 4}\n'
    upload = upload_create(owner=alice, content=ContentFile(data, name="in.jsonl"))

    job = wait_for_job(_submit(alice, snapshot, upload))
    stopped = wait_for_job(_submit(alice, snapshot, upload, max_rejects=2))

    assert (job.status, job.result) == (JobStatus.COMPLETE, "FAILURE"), job.error_message
    assert (job.records_read, job.records_written, job.records_rejected) == (6, 2, 4)
    with job.output_asset().file.open("rb") as f:
        assert [orjson.loads(line) for line in f] == [
            {"x": 1, "score": 1.0},
            {"x": 4, "score": 0.25},
        ]
    with job.output_asset().rejects_file.open("rb") as f:
        rejects = [orjson.loads(line) for line in f]
    # Undecodable records are found as a chunk is read, before any of it is scored.
    assert sorted((r["direction"], r["record"], r["reason"]) for r in rejects) == [
        ("input", 2, "score function 'action' raised ValueError: x is zero"),
        ("input", 3, "invalid JSON at column 7: unexpected end of data"),
        ("input", 4, "not UTF-8 text"),
        ("output", 2, "cannot be encoded as JSON: field 'score' is nan"),
    ]
    assert "Traceback" in job.log and "x is zero" in job.log
    assert stopped.status == JobStatus.ERROR
    assert stopped.error_message.startswith("stopped: more than 2 records were rejected")
    assert not stopped.output_asset().file


def test_cancel_stops_a_running_job_within_two_seconds(celery_worker, alice, team_alpha, tmp_path):
    from models_registry.services import model_create

    slow = model_create(
        owner=alice, team=team_alpha, name="slow", source_name="slow.py", source=SLOW_SOURCE
    ).latest_snapshot()
    upload = sample_upload(owner=alice, tmp_path=tmp_path)
    job = wait_for_job(_submit(alice, slow, upload), statuses=("RUNNING",))
    wait_for_progress = time.monotonic() + 10
    while job.records_read == 0 and time.monotonic() < wait_for_progress:
        time.sleep(0.1)
        job.refresh_from_db()

    assert job_cancel(job=job, by=alice)
    job = wait_for_job(job, timeout=3.5, statuses=("CANCELLED",))  # polled, not a fixed 2 s
    read_after_cancel = job.records_read
    time.sleep(1.5)
    job.refresh_from_db()

    assert job.status == JobStatus.CANCELLED
    assert job.records_read == read_after_cancel < 150
    assert not job.output_asset().file


def test_a_duplicate_message_does_not_run_the_job_twice(celery_worker, alice, team_alpha, tmp_path):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    upload = sample_upload(owner=alice, tmp_path=tmp_path)
    job = _submit(alice, snapshot, upload)
    job_enqueue(job_uuid=job.uuid, queue="default")  # the same job id delivered again

    job = wait_for_job(job)
    time.sleep(1)
    job.refresh_from_db()

    assert job.status == JobStatus.COMPLETE
    assert job.attempts == 1
    assert job.records_written == 150
