"""The jobs list's first page is rendered once for each state of its rows and kept: what a
request is shown is what it would have been shown rendered anew, for its user only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job, JobStatus
from jobs.views.lists import JOBS_COUNTED, STATE_FIELDS, _valid_until
from tests.jobs.test_job_list_rows import _row, make_job

HTMX = {"HX-Request": "true"}


@pytest.fixture
def two_hours_old(alice, alice_snapshot):
    """Ended jobs whose age in words stays the same for an hour."""

    def make(n: int = 1, **fields):
        jobs = [
            make_job(alice_snapshot, alice, status=JobStatus.COMPLETE, **fields) for _ in range(n)
        ]
        Job.objects.filter(pk__in=[j.pk for j in jobs]).update(
            created_at=timezone.now() - timedelta(hours=2)
        )
        return jobs

    return make


def _kept_then(client, url=None, **headers):
    url = url or reverse("jobs-list")
    client.get(url, headers=headers)  # rendered and kept
    return client.get(url, headers=headers).text


def test_a_changed_job_shows_on_the_next_request(alice_client, two_hours_old):
    (job,) = two_hours_old(records_written=10, started_at=timezone.now())
    before = _kept_then(alice_client)
    assert "10 written" in _row(before, job)

    Job.objects.filter(pk=job.pk).update(records_written=777, updated_at=timezone.now())
    assert "777 written" in _row(alice_client.get(reverse("jobs-list")).text, job)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.ERROR, error_message="Boom: no")
    assert "Boom: no" in _row(alice_client.get(reverse("jobs-list"), headers=HTMX).text, job)


def test_a_new_job_and_a_deleted_one_change_the_page_and_its_count(
    alice_client, alice, alice_snapshot, two_hours_old
):
    old = two_hours_old(30)
    assert "30 jobs" in _kept_then(alice_client)

    new = make_job(alice_snapshot, alice, status=JobStatus.WAITING)
    page = alice_client.get(reverse("jobs-list")).text
    assert f"job-row-{new.uuid}" in page and "31 jobs" in page
    # A job far down the list (not on this page) leaves the count.
    old[0].delete()
    assert "30 jobs" in alice_client.get(reverse("jobs-list")).text


def test_a_kept_page_is_never_shown_to_another_team(alice_client, charlie, two_hours_old):
    (job,) = two_hours_old()
    assert f"job-row-{job.uuid}" in _kept_then(alice_client)

    outsider = Client()
    outsider.force_login(charlie)
    for headers in ({}, HTMX):
        page = outsider.get(reverse("jobs-list"), headers=headers).text
        assert f"job-row-{job.uuid}" not in page and "No jobs yet" in page


def test_leaving_a_team_hides_its_jobs_at_the_next_request(alice_client, bob, two_hours_old):
    (job,) = two_hours_old()
    bobs = Client()
    bobs.force_login(bob)
    assert f"job-row-{job.uuid}" in _kept_then(bobs)

    bob.groups.clear()
    assert f"job-row-{job.uuid}" not in bobs.get(reverse("jobs-list")).text


def test_each_filter_and_sort_is_kept_apart(alice_client, alice, alice_snapshot, two_hours_old):
    (done,) = two_hours_old()
    failed = make_job(alice_snapshot, alice, status=JobStatus.ERROR, error_message="Nope")
    for url, shown, hidden in [
        ("?status=ERROR", failed, done),
        ("?status=COMPLETE", done, failed),
        ("?q=nothing-matches", None, done),
        ("?sort=created", done, None),
    ]:
        page = _kept_then(alice_client, reverse("jobs-list") + url)
        if shown:
            assert f"job-row-{shown.uuid}" in page, url
        if hidden:
            assert f"job-row-{hidden.uuid}" not in page, url


def _state(status: str, created: datetime) -> tuple:
    row = [None] * len(STATE_FIELDS)
    row[STATE_FIELDS.index("status")] = status
    row[STATE_FIELDS.index("created_at")] = created
    return tuple(row)


def test_a_kept_page_lasts_until_a_row_would_read_otherwise():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    at = datetime.fromtimestamp

    def ago(seconds):
        return at(now - seconds, UTC)

    # A running job's duration moves every second.
    assert _valid_until([_state("RUNNING", ago(7200))], now) == now + 1
    # "12 seconds ago" is so for the rest of this second of its age.
    assert _valid_until([_state("COMPLETE", ago(12.25))], now) == pytest.approx(now + 0.75)
    # "5 minutes ago" until its age is 6 minutes; "2 hours ago" until it is 3 hours.
    assert _valid_until([_state("COMPLETE", ago(330))], now) == pytest.approx(now + 30)
    assert _valid_until([_state("ERROR", ago(7300))], now) == pytest.approx(now + 60)
    # The first row to change decides; 60 s at most (a model renamed shows within a minute).
    rows = [_state("COMPLETE", ago(10_000)), _state("CANCELLED", ago(330))]
    assert _valid_until(rows, now) == pytest.approx(now + 30)
    assert _valid_until([], now) == now + 60


def _counts(client, url) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as captured:
        page = client.get(url).text
    return page, sum(q["sql"].startswith("SELECT COUNT(*)") for q in captured)


def test_more_than_1000_jobs_is_kept_a_while_a_smaller_count_never(
    alice_client, alice, alice_snapshot, charlie, two_hours_old
):
    (first,) = two_hours_old()
    Job.objects.bulk_create(
        Job(snapshot=alice_snapshot, created_by=alice, status=JobStatus.COMPLETE)
        for _ in range(JOBS_COUNTED)
    )
    page, counted = _counts(alice_client, reverse("jobs-list"))
    assert "more than 1,000 jobs" in page and counted == 1
    page, counted = _counts(alice_client, reverse("jobs-list"))
    assert "more than 1,000 jobs" in page and counted == 0  # kept
    # A status jobs leave is counted each time; so is a count of 1,000 or fewer.
    Job.objects.filter(pk__in=Job.objects.values("pk")[:5]).update(status=JobStatus.RUNNING)
    for url, shown in [("?status=RUNNING", "5 jobs"), ("?q=nothing-matches", "No jobs match")]:
        for _ in range(2):
            page, counted = _counts(alice_client, reverse("jobs-list") + url)
            assert shown in page and counted == 1, url
    # Kept for each user: another team's member counts their own.
    outsider = Client()
    outsider.force_login(charlie)
    page, counted = _counts(outsider, reverse("jobs-list"))
    assert "No jobs yet" in page and counted == 1
