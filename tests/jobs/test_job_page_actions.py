"""The job page as people use it every day: honest status, run again, edit and run, cancel."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job, JobAsset, JobStatus, JobType
from jobs.services import InputSpec, OutputSpec, job_submit, runtime_default, upload_create
from tests.factories import SnapshotFactory

HTMX = {"HX-Request": "true"}
METRICS_SOURCE = """\
# modelop.score
def action(datum):
    yield datum

# modelop.metrics
def metrics(df):
    yield {"auc": 0.9}

# modelop.train
def train(df):
    pass
"""


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def snapshot(alice_model):
    return SnapshotFactory(model=alice_model, version=1, source=METRICS_SOURCE)


def make_job(snapshot, user, **fields) -> Job:
    job = Job.objects.create(
        snapshot=snapshot, created_by=user, runtime=runtime_default(), **fields
    )
    JobAsset.objects.create(
        job=job, direction="in", kind="embedded", name="train.jsonl", data='{"x": 1}\n', size=9
    )
    JobAsset.objects.create(job=job, direction="out", kind="embedded", name="output.jsonl")
    return job


def _fields(status: str) -> dict:
    ago = timezone.now() - timedelta(seconds=30)
    fields: dict = {"status": status}
    if status in (JobStatus.RUNNING, JobStatus.COMPLETE, JobStatus.ERROR, JobStatus.CANCELLED):
        fields.update(started_at=ago, records_read=10, bytes_read=50, bytes_total=100)
    if status in (JobStatus.COMPLETE, JobStatus.ERROR, JobStatus.CANCELLED):
        fields["finished_at"] = timezone.now()
    if status == JobStatus.ERROR:
        fields["error_message"] = "boom\nmore"
    return fields


@pytest.mark.parametrize(
    ("job_type", "status"), list(itertools.product(JobType.values, JobStatus.values))
)
def test_every_page_of_every_job_type_and_state_answers(
    alice_client, alice, snapshot, job_type, status
):
    job = make_job(snapshot, alice, job_type=job_type, **_fields(status))
    if job_type == JobType.METRICS and status == JobStatus.COMPLETE:
        Job.objects.filter(pk=job.pk).update(metrics={"auc": 0.8, "accuracy": 0.7})
    if job_type == JobType.TRAINING and status == JobStatus.COMPLETE:
        job.result_snapshot = SnapshotFactory(model=snapshot.model, version=2)
        job.save()
    assert alice_client.get(job.get_absolute_url()).status_code == 200
    status_page = alice_client.get(reverse("jobs-status", args=[job.uuid]), headers=HTMX)
    assert status_page.status_code == (286 if job.is_terminal else 200)
    assert alice_client.get(reverse("jobs-list")).status_code == 200
    rows = alice_client.get(f"{reverse('jobs-list-rows')}?ids={job.uuid}", headers=HTMX)
    assert rows.status_code == (286 if job.is_terminal else 200)


# --- Honest status ----------------------------------------------------------------------------


def test_a_cancelled_job_says_its_output_was_discarded(alice_client, alice, snapshot):
    job = make_job(snapshot, alice, cancelled_by=alice, **_fields(JobStatus.CANCELLED))
    page = alice_client.get(job.get_absolute_url()).text
    assert "Cancelled by alice" in page and "Its output was discarded" in page
    assert "The output was discarded: the job was cancelled." in page


def test_the_submitted_banner_goes_once_the_job_has_ended(alice_client, alice, snapshot):
    job = make_job(snapshot, alice, **_fields(JobStatus.RUNNING))
    status_url = reverse("jobs-status", args=[job.uuid])
    assert 'id="job-messages"' not in alice_client.get(status_url, headers=HTMX).text
    Job.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETE, finished_at=timezone.now())
    final = alice_client.get(status_url, headers=HTMX).text
    assert '<div id="job-messages" hx-swap-oob="true"></div>' in final


def test_the_job_page_holds_its_messages_where_the_last_update_can_clear_them(
    alice_client, alice, snapshot
):
    job = make_job(snapshot, alice, **_fields(JobStatus.WAITING))
    page = alice_client.get(job.get_absolute_url()).text
    assert '<div id="job-messages">' in page


def test_a_metrics_job_shows_no_written_count_or_rate(alice_client, alice, snapshot):
    job = make_job(snapshot, alice, job_type=JobType.METRICS, **_fields(JobStatus.COMPLETE))
    page = alice_client.get(job.get_absolute_url()).text
    assert "<dt>Written</dt>" not in page and "<dt>Rate</dt>" not in page
    assert "<dt>Records read</dt>" in page


def test_a_scoring_job_shows_its_written_count_and_rate(alice_client, alice, snapshot):
    job = make_job(snapshot, alice, **_fields(JobStatus.RUNNING))
    page = alice_client.get(job.get_absolute_url()).text
    assert "<dt>Written</dt>" in page and "<dt>Rate</dt>" in page


def test_a_training_job_shows_what_it_trained_on_and_the_new_snapshot(
    alice_client, alice, snapshot
):
    made = SnapshotFactory(model=snapshot.model, version=2)
    job = make_job(
        snapshot, alice, job_type=JobType.TRAINING, result_snapshot=made,
        **_fields(JobStatus.COMPLETE),
    )  # fmt: skip
    page = alice_client.get(job.get_absolute_url()).text
    assert "Trained on" in page and '<span class="mono">train.jsonl</span>' in page
    assert "10 records of" in page
    assert f'New snapshot: <a href="{made.get_absolute_url()}">echo v2</a>' in page


def test_a_running_training_job_says_the_snapshot_comes_at_the_end(alice_client, alice, snapshot):
    job = make_job(snapshot, alice, job_type=JobType.TRAINING, **_fields(JobStatus.RUNNING))
    page = alice_client.get(job.get_absolute_url()).text
    assert "Training on" in page and "The new snapshot is made when training completes." in page


def test_complete_with_rejects_says_how_many_of_how_many(alice_client, alice, snapshot):
    job = make_job(
        snapshot, alice, status=JobStatus.COMPLETE, result="FAILURE", records_read=1000,
        records_rejected=12, started_at=timezone.now(), finished_at=timezone.now(),
    )  # fmt: skip
    assert "· 12 of 1,000 records rejected" in alice_client.get(job.get_absolute_url()).text


def test_a_failed_jobs_bar_is_not_the_running_colour(alice_client, alice, snapshot):
    job = make_job(snapshot, alice, **_fields(JobStatus.ERROR))
    assert 'class="progress-error"' in alice_client.get(job.get_absolute_url()).text


# --- Cancel asks first ------------------------------------------------------------------------


def test_cancel_asks_for_confirmation_through_a_static_script(alice_client, alice, snapshot):
    job = make_job(snapshot, alice, **_fields(JobStatus.RUNNING))
    page = alice_client.get(job.get_absolute_url()).text
    form = page[page.index(f'action="{reverse("jobs-cancel", args=[job.uuid])}"') :]
    assert form.index("data-confirm=") < form.index("</form>")
    assert '<script src="/static/js/confirm.js" defer></script>' in page


def test_cancel_without_javascript_is_a_plain_post(alice_client, alice, snapshot):
    job = make_job(snapshot, alice, **_fields(JobStatus.WAITING))
    response = alice_client.post(reverse("jobs-cancel", args=[job.uuid]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


# --- Run again --------------------------------------------------------------------------------


@pytest.fixture
def submitted(alice, snapshot, queued, default_runtime_online):
    upload = upload_create(
        owner=alice, content=SimpleUploadedFile("records.jsonl", b'{"x": 1}\n{"x": 2}\n')
    )
    job = job_submit(
        user=alice, snapshot=snapshot, job_type=JobType.SCORING,
        inputs=[
            InputSpec(kind="upload", upload=upload, role="BASELINE_DATA"),
            InputSpec(kind="embedded", data="x\n3\n", format="csv"),
        ],
        output=OutputSpec(kind="file", name="scores.csv"),
        max_rejects_percent=2.5,
    )  # fmt: skip
    Job.objects.filter(pk=job.pk).update(status=JobStatus.ERROR, finished_at=timezone.now())
    job.refresh_from_db()
    return job


def _assets(job: Job) -> list[tuple]:
    return [
        (a.direction, a.kind, a.name, a.format, a.file.name, a.data, a.role)
        for a in job.assets.order_by("direction", "position")
    ]


def test_the_job_page_offers_run_again_and_edit_and_run(alice_client, submitted):
    page = alice_client.get(submitted.get_absolute_url()).text
    assert f'action="{reverse("jobs-rerun", args=[submitted.uuid])}"' in page
    assert f'action="{reverse("jobs-edit", args=[submitted.uuid])}"' in page
    assert "Run again" in page and "Edit and run" in page


def test_run_again_makes_the_same_job_and_shows_it(alice_client, submitted):
    response = alice_client.post(reverse("jobs-rerun", args=[submitted.uuid]))
    again = Job.objects.exclude(pk=submitted.pk).get()
    assert response.status_code == 302 and response["Location"] == again.get_absolute_url()
    assert (again.snapshot, again.job_type, again.status) == (
        submitted.snapshot, submitted.job_type, JobStatus.WAITING,
    )  # fmt: skip
    assert again.max_rejects_percent == 2.5 and again.params["rerun_of"] == str(submitted.uuid)
    assert _assets(again) == _assets(submitted)
    assert "Job submitted." in alice_client.get(again.get_absolute_url()).text


def test_run_again_and_edit_only_accept_post(alice_client, submitted):
    for name in ("jobs-rerun", "jobs-edit"):
        assert alice_client.get(reverse(name, args=[submitted.uuid])).status_code == 405


def test_run_again_and_edit_check_ownership(charlie_client, submitted):
    for name in ("jobs-rerun", "jobs-edit"):
        assert charlie_client.post(reverse(name, args=[submitted.uuid])).status_code == 404
    assert Job.objects.count() == 1


def test_a_teammate_can_run_a_job_again(client, bob, submitted):
    client.force_login(bob)
    client.post(reverse("jobs-rerun", args=[submitted.uuid]))
    assert Job.objects.exclude(pk=submitted.pk).get().created_by == bob


# --- Edit and run -----------------------------------------------------------------------------


def test_edit_and_run_lands_on_the_review_with_the_jobs_choices(alice_client, submitted):
    response = alice_client.post(reverse("jobs-edit", args=[submitted.uuid]))
    review_url = reverse("jobs-wizard-step", args=["review"])
    assert response.status_code == 302 and response["Location"] == review_url
    review = alice_client.get(review_url).text
    for expected in ("echo", "v1", "Scoring", "records.jsonl", "scores.csv", 'value="2.5%"'):
        assert expected in review, expected


def test_edit_and_run_submits_the_same_inputs(alice_client, submitted):
    alice_client.post(reverse("jobs-edit", args=[submitted.uuid]))
    review_url = reverse("jobs-wizard-step", args=["review"])
    response = alice_client.post(review_url, {"max_rejects": "2.5%"})
    again = Job.objects.exclude(pk=submitted.pk).get()
    assert response["Location"] == again.get_absolute_url()
    assert _assets(again) == _assets(submitted)
    assert again.max_rejects_percent == 2.5


def test_edit_and_run_can_change_a_step(alice_client, submitted):
    alice_client.post(reverse("jobs-edit", args=[submitted.uuid]))
    alice_client.post(reverse("jobs-wizard-step", args=["output"]), {"kind": "embedded"})
    alice_client.post(reverse("jobs-wizard-step", args=["review"]))
    again = Job.objects.exclude(pk=submitted.pk).get()
    assert again.output_asset().kind == JobAsset.Kind.EMBEDDED
    assert [a.name for a in again.input_assets()] == [a.name for a in submitted.input_assets()]


# --- The job's own events in its log ----------------------------------------------------------


def test_the_log_lists_the_jobs_events_in_order_with_their_times(alice_client, alice, snapshot):
    start = timezone.now() - timedelta(minutes=5)
    job = make_job(
        snapshot, alice, status=JobStatus.ERROR, enqueued_at=start + timedelta(seconds=1),
        started_at=start + timedelta(seconds=30), finished_at=start + timedelta(seconds=40),
        worker="celery@host-b:42", attempts=2, error_message="ValueError: no\nTraceback",
        log=(
            "worker celery@host-a:7 was lost; starting again (attempt 2 of 3)\n"
            "model output line\n"
        ),
    )  # fmt: skip
    page = alice_client.get(job.get_absolute_url()).text
    events = page[page.index('<ol class="events">') : page.index("</ol>")]
    order = [
        "submitted by alice",
        "queued on the",
        "worker celery@host-a:7 was lost; starting again (attempt 2 of 3)",
        "claimed by worker celery@host-b:42 (attempt 2)",
        "failed: ValueError: no",
    ]
    positions = [events.index(text) for text in order]
    assert positions == sorted(positions)
    local = timezone.localtime(job.finished_at).strftime("%Y-%m-%d %H:%M:%S")
    assert f">{local}</time> failed" in events


def test_a_cancelled_jobs_events_end_with_who_cancelled_it(alice_client, alice, snapshot):
    job = make_job(snapshot, alice, cancelled_by=alice, **_fields(JobStatus.CANCELLED))
    page = alice_client.get(job.get_absolute_url()).text
    assert "cancelled by alice; its output was discarded" in page


@pytest.mark.parametrize(
    ("job_type", "says"),
    [
        (JobType.SCORING, "output committed; complete"),
        (JobType.METRICS, "metrics saved; complete"),
        (JobType.TRAINING, "new snapshot made; complete"),
    ],
)
def test_a_complete_jobs_last_event_says_what_it_made(
    alice_client, alice, snapshot, job_type, says
):
    made = SnapshotFactory(model=snapshot.model, version=2) if job_type == "training" else None
    job = make_job(
        snapshot, alice, job_type=job_type, result_snapshot=made, **_fields(JobStatus.COMPLETE)
    )
    assert says in alice_client.get(job.get_absolute_url()).text


def test_the_logs_own_timestamped_events_are_listed_with_their_times(alice_client, alice, snapshot):
    start = timezone.now() - timedelta(minutes=5)
    job = make_job(
        snapshot, alice, status=JobStatus.COMPLETE, enqueued_at=start,
        started_at=start + timedelta(seconds=30), finished_at=start + timedelta(seconds=40),
        worker="celery@host-b:42", attempts=2,
        log=(
            "[2026-01-01 10:00:05 UTC] claimed by worker celery@host-a:7 (attempt 1); "
            "inputs staged; starting the model\n"
            "[2026-01-01 10:01:00 UTC] worker celery@host-a:7 was lost; starting again "
            "(attempt 2 of 3)\n"
            "[2026-01-01 10:01:05 UTC] claimed by worker celery@host-b:42 (attempt 2); "
            "inputs staged; starting the model\n"
            "model output line\n"
        ),
    )  # fmt: skip
    page = alice_client.get(job.get_absolute_url()).text
    events = page[page.index('<ol class="events">') : page.index("</ol>")]
    order = [
        "submitted by alice",
        "claimed by worker celery@host-a:7 (attempt 1); inputs staged",
        "worker celery@host-a:7 was lost; starting again (attempt 2 of 3)",
        "claimed by worker celery@host-b:42 (attempt 2)",
        "output committed; complete",
    ]
    positions = [events.index(text) for text in order]
    assert positions == sorted(positions)
    assert events.count("claimed by worker") == 2  # the log's, not a third from the database
    lost_at = timezone.localtime(datetime(2026, 1, 1, 10, 1, tzinfo=UTC))
    assert (
        f">{lost_at.strftime('%Y-%m-%d %H:%M:%S')}</time> worker celery@host-a:7 was lost" in events
    )
