"""The jobs list as people use it every day: what a row says, live rows, search and sort."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job, JobAsset, JobStatus, JobType
from jobs.services import runtime_default
from tests.factories import ModelFactory, SnapshotFactory, UserFactory

HTMX = {"HX-Request": "true"}


def make_job(snapshot, user, *, input_name="embedded.jsonl", inputs=1, **fields):
    job = Job.objects.create(
        snapshot=snapshot, created_by=user, runtime=runtime_default(), **fields
    )
    for position in range(inputs):
        JobAsset.objects.create(
            job=job, direction="in", kind="embedded", position=position,
            name=input_name if position == 0 else f"more-{position}.jsonl",
            data='{"x": 1}\n', size=9,
        )  # fmt: skip
    JobAsset.objects.create(job=job, direction="out", kind="embedded", name="output.jsonl")
    return job


def _ago(seconds: int):
    return timezone.now() - timedelta(seconds=seconds)


def _row(page: str, job: Job) -> str:
    start = page.index(f'id="job-row-{job.uuid}"')
    return page[start : page.index("</tr>", start)]


def _every_kind_of_job(snapshot, user, new_snapshot) -> list[Job]:
    """One job of every type in every state the list shows differently."""
    done = {"started_at": _ago(60), "finished_at": _ago(10)}
    return [
        make_job(snapshot, user, status=JobStatus.WAITING),
        make_job(
            snapshot,
            user,
            status=JobStatus.RUNNING,
            started_at=_ago(5),
            records_read=10,
            bytes_read=10,
            bytes_total=100,
        ),  # fmt: skip
        make_job(
            snapshot,
            user,
            status=JobStatus.COMPLETE,
            records_read=1000,
            records_written=988,
            records_rejected=12,
            result="FAILURE",
            input_name="scores-in.csv",
            **done,
        ),  # fmt: skip
        make_job(
            snapshot,
            user,
            job_type=JobType.METRICS,
            status=JobStatus.COMPLETE,
            metrics={"auc": 0.91234, "accuracy": 0.875, "roc_curve": [1, 2]},
            records_read=50,
            records_written=1,
            **done,
        ),  # fmt: skip
        make_job(
            snapshot,
            user,
            job_type=JobType.TRAINING,
            status=JobStatus.COMPLETE,
            result_snapshot=new_snapshot,
            records_read=70,
            **done,
        ),  # fmt: skip
        make_job(
            snapshot,
            user,
            status=JobStatus.ERROR,
            bytes_read=100,
            bytes_total=100,
            error_message="ValueError: bad column 'age'\nTraceback (most recent call last):",
            **done,
        ),  # fmt: skip
        make_job(snapshot, user, status=JobStatus.CANCELLED, cancelled_by=user, **done),
    ]


@pytest.fixture
def jobs(alice_snapshot, alice, alice_model):
    return _every_kind_of_job(alice_snapshot, alice, SnapshotFactory(model=alice_model))


def test_rows_show_the_input_and_the_key_result_of_every_job_type(alice_client, jobs):
    waiting, running, scored, metrics, training, failed, cancelled = jobs
    page = alice_client.get(reverse("jobs-list")).text
    assert "scores-in.csv" in _row(page, scored)
    assert "988 written" in _row(page, scored) and "12 rejected" in _row(page, scored)
    assert "AUC 0.9123 " in _row(page, metrics) and "accuracy 0.875" in _row(page, metrics)
    assert "written" not in _row(page, metrics)
    assert f'new snapshot <a href="{training.result_snapshot.get_absolute_url()}"' in _row(
        page, training
    )
    assert "ValueError: bad column" in _row(page, failed)
    assert "Traceback" not in _row(page, failed).split("title=")[0]
    assert "output discarded" in _row(page, cancelled)
    assert "not started" in _row(page, waiting)


def test_a_failed_job_never_shows_a_full_blue_bar(alice_client, jobs):
    failed = jobs[5]
    row = _row(alice_client.get(reverse("jobs-list")).text, failed)
    assert 'class="progress-error"' in row


def test_a_row_counts_the_other_inputs(alice_client, alice, alice_snapshot):
    job = make_job(alice_snapshot, alice, inputs=3, input_name="first.jsonl")
    row = _row(alice_client.get(reverse("jobs-list")).text, job)
    assert "first.jsonl" in row and "+2" in row


def test_the_list_polls_once_for_the_jobs_that_have_not_ended(alice_client, jobs):
    page = alice_client.get(reverse("jobs-list")).text
    assert page.count('hx-trigger="every 2s"') == 1
    poll = page[page.index(reverse("jobs-list-rows")) :].split('"')[0]
    assert f"ids={jobs[0].uuid}" in poll and f"ids={jobs[1].uuid}" in poll
    assert str(jobs[2].uuid) not in poll


def test_a_list_of_ended_jobs_does_not_poll(alice_client, alice, alice_snapshot):
    make_job(alice_snapshot, alice, status=JobStatus.COMPLETE)
    assert "every 2s" not in alice_client.get(reverse("jobs-list")).text


def test_rows_partial_swaps_each_row_out_of_band_while_one_runs(alice_client, jobs):
    running, scored = jobs[1], jobs[2]
    url = f"{reverse('jobs-list-rows')}?ids={running.uuid}&ids={scored.uuid}"
    response = alice_client.get(url, headers=HTMX)
    assert response.status_code == 200
    text = response.text
    assert text.strip().startswith("<template>")
    assert f'<tr id="job-row-{running.uuid}" hx-swap-oob="true"' in text
    assert f'<tr id="job-row-{scored.uuid}" hx-swap-oob="true"' in text


def test_rows_partial_stops_polling_with_286_once_none_runs(alice_client, jobs):
    running = jobs[1]
    url = f"{reverse('jobs-list-rows')}?ids={running.uuid}"
    Job.objects.filter(pk=running.pk).update(
        status=JobStatus.COMPLETE, finished_at=timezone.now(), records_written=10
    )
    response = alice_client.get(url, headers=HTMX)
    assert response.status_code == 286
    assert "10 written" in response.text


def test_rows_partial_shows_no_other_teams_jobs(charlie_client, jobs):
    url = f"{reverse('jobs-list-rows')}?ids={jobs[1].uuid}&ids=not-a-uuid"
    response = charlie_client.get(url, headers=HTMX)
    assert response.status_code == 286 and str(jobs[1].uuid) not in response.text


def test_rows_partial_requires_login(client, jobs):
    response = client.get(f"{reverse('jobs-list-rows')}?ids={jobs[1].uuid}")
    assert response.status_code == 302


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, headers=HTMX).status_code in (200, 286)
    return len(captured)


def test_the_list_makes_the_same_number_of_queries_for_7_jobs_or_21(
    alice_client, alice, alice_snapshot, alice_model, jobs
):
    url = reverse("jobs-list")
    few = _queries(alice_client, url)
    for _ in range(2):
        _every_kind_of_job(alice_snapshot, alice, SnapshotFactory(model=alice_model))
    assert _queries(alice_client, url) == few
    assert few <= 8


def test_the_rows_partial_makes_the_same_number_of_queries_for_1_job_or_7(alice_client, jobs):
    base = reverse("jobs-list-rows")
    one = _queries(alice_client, f"{base}?ids={jobs[1].uuid}")
    every = "&".join(f"ids={job.uuid}" for job in jobs)
    assert _queries(alice_client, f"{base}?{every}") == one
    assert one <= 5


# --- Search and sort --------------------------------------------------------------------------


def _listed(client, **params) -> str:
    return client.get(reverse("jobs-list"), params).text


def test_search_finds_jobs_by_model_input_name_or_user(alice_client, alice, bob, team_alpha):
    credit = SnapshotFactory(model=ModelFactory(owner=alice, team=team_alpha, name="Credit"))
    iris = SnapshotFactory(model=ModelFactory(owner=alice, team=team_alpha, name="Iris"))
    by_model = make_job(credit, alice)
    by_input = make_job(iris, alice, input_name="credit_test.csv")
    by_user = make_job(iris, UserFactory(username="creditor"))
    other = make_job(iris, bob)
    page = _listed(alice_client, q="credit")
    for job in (by_model, by_input, by_user):
        assert f"job-row-{job.uuid}" in page
    assert f"job-row-{other.uuid}" not in page
    assert f"job-row-{other.uuid}" in _listed(alice_client, q="bob")


def test_search_with_no_match_says_so(alice_client, jobs):
    assert "No jobs match these filters." in _listed(alice_client, q="nothing like it")


def test_sort_by_created_duration_and_status(alice_client, alice, alice_snapshot):
    short = make_job(
        alice_snapshot, alice, status=JobStatus.COMPLETE, started_at=_ago(20),
        finished_at=_ago(18),
    )  # fmt: skip
    long = make_job(
        alice_snapshot, alice, status=JobStatus.ERROR, started_at=_ago(600),
        finished_at=_ago(10),
    )  # fmt: skip
    waiting = make_job(alice_snapshot, alice, status=JobStatus.WAITING)

    def order(sort: str) -> list[Job]:
        page = _listed(alice_client, sort=sort)
        return sorted((short, long, waiting), key=lambda j: page.index(f"job-row-{j.uuid}"))

    assert order("") == [waiting, long, short]
    assert order("created") == [short, long, waiting]
    assert order("-duration") == [long, short, waiting]
    assert order("duration") == [short, long, waiting]
    assert order("status") == [short, long, waiting]  # COMPLETE, ERROR, WAITING


def test_a_bad_sort_is_a_form_error_not_a_500(alice_client, jobs):
    response = alice_client.get(reverse("jobs-list"), {"sort": "password"})
    assert response.status_code == 200


def test_the_last_poll_takes_the_live_indicator_away(alice_client, jobs):
    ended = jobs[2]
    response = alice_client.get(f"{reverse('jobs-list-rows')}?ids={ended.uuid}", headers=HTMX)
    assert response.status_code == 286
    assert '<p id="list-live" class="list-live small" hx-swap-oob="true"></p>' in response.text


def test_without_javascript_a_list_with_running_jobs_reloads_itself(alice_client, jobs):
    page = alice_client.get(reverse("jobs-list")).text
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in page
