from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from jobs.models import Job, JobAsset, JobStatus, Runtime
from jobs.services import (
    InputSpec,
    OutputSpec,
    job_cancel,
    job_claim,
    job_complete,
    job_fail,
    job_progress_save,
    job_publish_decide,
    job_rerun,
    job_submit,
)

EMBEDDED = InputSpec(kind=JobAsset.Kind.EMBEDDED, data='{"x": 1}\n{"x": 2}\n')


@pytest.fixture
def submit(
    alice, alice_snapshot, queued, django_capture_on_commit_callbacks, default_runtime_online
):
    """job_submit as alice, on a machine whose default runtime has an online worker."""

    def _submit(**kwargs):
        options = {"user": alice, "snapshot": alice_snapshot, "inputs": [EMBEDDED]} | kwargs
        with django_capture_on_commit_callbacks(execute=True):
            return job_submit(**options)

    return _submit


def test_submit_creates_a_waiting_job_and_queues_it_after_commit(submit, queued):
    job = submit()
    job.refresh_from_db()
    assert job.status == JobStatus.WAITING
    assert queued == [(job.uuid, "default")]
    assert job.runtime.is_default and job.runtime_auto
    assert job.placement == "chosen automatically: default (no tags; 0 of 2 slots busy)"


def test_submit_keeps_the_embedded_input_and_an_embedded_output(submit):
    job = submit()
    (asset,) = job.input_assets()
    assert (asset.kind, asset.format, asset.size) == ("embedded", "jsonl", 18)
    assert job.output_asset().kind == JobAsset.Kind.EMBEDDED


def test_submit_on_a_chosen_runtime_records_who_chose(submit, alice):
    runtime = Runtime.objects.create(name="big", queue="big")
    job = submit(runtime=runtime)
    assert job.runtime == runtime and not job.runtime_auto
    assert "alice" in job.placement


def test_an_outsider_cannot_submit_on_another_teams_snapshot(submit, charlie):
    with pytest.raises(ValidationError, match="may not run jobs"):
        submit(user=charlie)
    assert not Job.objects.exists()


def test_a_snapshot_without_the_function_for_the_type_is_refused(submit):
    with pytest.raises(ValidationError, match="no metrics function"):
        submit(job_type="metrics")


def test_schema_checking_needs_a_schema_that_is_an_attachment(submit):
    with pytest.raises(ValidationError, match="Choose an input schema"):
        submit(check_input_schema=True)
    with pytest.raises(ValidationError, match="not an attachment"):
        submit(input_schema="nope.avsc")


def test_embedded_input_above_the_cap_is_refused(submit, settings):
    settings.EMBEDDED_INPUT_MAX_BYTES = 10
    with pytest.raises(ValidationError, match="limit is 10"):
        submit()


def test_more_inputs_than_a_job_may_have_are_refused(submit, monkeypatch):
    monkeypatch.setattr("jobs.services.lifecycle.JOB_MAX_INPUTS", 2)
    with pytest.raises(ValidationError, match="A job has at most 2 input assets"):
        submit(inputs=[EMBEDDED] * 3)
    assert not Job.objects.exists()


def test_an_upload_of_another_user_is_refused(submit, bob, tmp_path):
    from tests.demo import sample_upload

    upload = sample_upload(owner=bob, tmp_path=tmp_path)
    with pytest.raises(ValidationError, match="upload it again"):
        submit(inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload)])


def test_a_stored_output_needs_a_plain_file_name(submit):
    with pytest.raises(ValidationError, match="not a plain file name"):
        submit(output=OutputSpec(kind=JobAsset.Kind.FILE, name="../x.csv"))
    job = submit(output=OutputSpec(kind=JobAsset.Kind.FILE, name="scores.csv"))
    assert job.output_asset().format == "csv"


def test_exactly_one_claim_wins(submit):
    job = submit()
    assert job_claim(job=job, worker="w1")
    assert not job_claim(job=job, worker="w2")
    job.refresh_from_db()
    assert (job.status, job.worker, job.attempts) == (JobStatus.RUNNING, "w1", 1)


def test_a_finished_job_never_moves_backwards(submit):
    job = submit()
    job_claim(job=job, worker="w")
    assert job_complete(job=job, records_read=2, records_written=2)
    assert not job_fail(job=job, message="late failure")
    assert not job_cancel(job=job, by=None)
    assert not job_claim(job=job, worker="w")
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE and job.result == "SUCCESS"


def test_rejected_records_mark_the_result(submit):
    job = submit()
    job_claim(job=job, worker="w")
    job_complete(job=job, records_read=2, records_written=1, records_rejected=1)
    job.refresh_from_db()
    assert job.result == "FAILURE"


def test_cancel_works_while_waiting_and_while_running(submit, alice):
    waiting = submit()
    assert job_cancel(job=waiting, by=alice)
    assert waiting.status == JobStatus.CANCELLED and waiting.cancelled_by == alice

    running = submit()
    job_claim(job=running, worker="w")
    assert job_cancel(job=running, by=alice)
    assert not job_progress_save(job=running, records_read=5)  # the supervisor's cue to kill
    assert not job_complete(job=running)


def test_a_job_past_its_point_of_no_return_cannot_be_cancelled(submit, alice):
    job = submit()
    job_claim(job=job, worker="w")
    assert not job_publish_decide(job=job, attempt=1, worker="other", record={})  # fenced
    assert job_publish_decide(job=job, attempt=1, worker="w", record={"xids": ["42"]})

    assert not job_cancel(job=job, by=alice)

    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.publishing == {"attempt": 1, "xids": ["42"]}
    assert job_complete(job=job, attempt=1, worker="w")


def test_the_api_says_why_a_publishing_job_is_not_cancelled(submit, alice, client):
    job = submit()
    job_claim(job=job, worker="w")
    job_publish_decide(job=job, attempt=1, worker="w", record={})
    client.force_login(alice)

    answer = client.post(reverse("api-job-cancel", args=[job.uuid]))
    page = client.post(reverse("jobs-cancel", args=[job.uuid]), follow=True)

    assert answer.status_code == 409
    assert answer.json() == {"detail": "Too late to cancel: the job is publishing its output."}
    assert "Too late to cancel: the job is publishing its output." in page.content.decode()


def test_a_cancelled_job_cannot_be_claimed(submit, alice):
    job = submit()
    job_cancel(job=job, by=alice)
    assert not job_claim(job=job, worker="w")


def test_an_s3_output_whose_name_gives_no_format_is_refused(submit):
    from jobs.models import Connection

    lake = Connection.objects.create(
        name="lake", kind=Connection.Kind.S3, use_worker_credentials=True
    )
    with pytest.raises(ValidationError, match="Cannot tell the output format"):
        submit(
            output=OutputSpec(kind=JobAsset.Kind.S3, connection=lake, location="s3://bkt/out.xlsx")
        )
    job = submit(
        output=OutputSpec(kind=JobAsset.Kind.S3, connection=lake, location="s3://bkt/o.csv")
    )
    assert job.output_asset().format == "csv"


def test_an_s3_input_keeps_its_format_blank_unless_one_is_chosen(submit):
    from jobs.models import Connection

    lake = Connection.objects.create(
        name="lake", kind=Connection.Kind.S3, use_worker_credentials=True
    )
    prefix = InputSpec(kind=JobAsset.Kind.S3, connection=lake, location="s3://bkt/in/")
    chosen = InputSpec(kind=JobAsset.Kind.S3, connection=lake, location="s3://bkt/x", format="csv")

    job = submit(inputs=[prefix, chosen])

    assert [a.format for a in job.input_assets()] == ["", "csv"]


def test_the_same_idempotency_key_twice_makes_one_job(submit, queued, bob):
    first = submit(idempotency_key="nightly-2026-11-26")
    again = submit(idempotency_key="nightly-2026-11-26")
    assert again.pk == first.pk
    assert Job.objects.count() == 1 and len(queued) == 1
    # Another key, or the same key from another user, is another job.
    assert submit(idempotency_key="nightly-2026-11-27").pk != first.pk
    assert submit(user=bob, idempotency_key="nightly-2026-11-26").pk != first.pk
    assert Job.objects.count() == 3


def test_rerun_makes_a_new_job_with_the_same_inputs(
    submit, queued, bob, django_capture_on_commit_callbacks
):
    job = submit(params={"threshold": 0.5})
    with django_capture_on_commit_callbacks(execute=True):
        again = job_rerun(job=job, user=bob)
    assert again.pk != job.pk and again.created_by == bob
    assert again.params == {"threshold": 0.5, "rerun_of": str(job.uuid)}
    (asset,) = again.input_assets()
    assert asset.data == EMBEDDED.data
    assert [uuid for uuid, _ in queued] == [job.uuid, again.uuid]
