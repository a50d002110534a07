"""Cheap polls and deep pages: keyset pages of the jobs list, ETag / 304 for the status partial
and the rows poll, new jobs at the top of the first page, and bounded query counts."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job, JobStatus
from jobs.views._common import ETAG_FIELDS
from tests.factories import ModelFactory, SnapshotFactory
from tests.jobs.test_job_list_rows import make_job

HTMX = {"HX-Request": "true"}


def _link(page: str, rel: str) -> str:
    match = re.search(rf'<a href="([^"]+)"[^>]*rel="{rel}"', page)
    return html.unescape(match[1]) if match else ""


def _listed(page: str, jobs) -> list[Job]:
    found = [j for j in jobs if f"job-row-{j.uuid}" in page]
    return sorted(found, key=lambda j: page.index(f"job-row-{j.uuid}"))


@pytest.mark.parametrize("sort", ["", "created", "status"])
def test_keyset_pages_show_every_job_once_in_order_even_with_equal_times(
    alice_client, alice, alice_snapshot, sort
):
    same = timezone.now() - timedelta(hours=1)
    statuses = [JobStatus.COMPLETE, JobStatus.ERROR, JobStatus.WAITING]
    jobs = [make_job(alice_snapshot, alice, status=statuses[i % 3]) for i in range(60)]
    # Twenty jobs share one creation time: only the id tells them apart.
    Job.objects.filter(pk__in=[j.pk for j in jobs[10:30]]).update(created_at=same)
    seen: list[Job] = []
    url = reverse("jobs-list") + (f"?sort={sort}" if sort else "")
    pages = []
    while url:
        page = alice_client.get(url).text
        pages.append(page)
        seen.extend(_listed(page, jobs))
        url = reverse("jobs-list") + next_link if (next_link := _link(page, "next")) else ""
    assert len(pages) == 3
    assert sorted(j.pk for j in seen) == sorted(j.pk for j in jobs)  # each once
    expected = {
        "": Job.objects.order_by("-created_at", "-id"),
        "created": Job.objects.order_by("created_at", "id"),
        "status": Job.objects.order_by("status", "-created_at", "-id"),
    }[sort]
    assert [j.pk for j in seen] == list(expected.values_list("pk", flat=True))
    # Back from the last page: the middle page again.
    back = alice_client.get(reverse("jobs-list") + _link(pages[2], "prev")).text
    assert _listed(back, jobs) == _listed(pages[1], jobs)


def test_a_page_counts_no_more_than_1000_jobs(alice_client, alice, alice_snapshot):
    for _ in range(3):
        make_job(alice_snapshot, alice, status=JobStatus.COMPLETE)
    with CaptureQueriesContext(connection) as captured:
        page = alice_client.get(reverse("jobs-list")).text
    assert "3 jobs" in page
    counts = [q["sql"] for q in captured if q["sql"].startswith("SELECT COUNT(*)")]
    assert counts and all("LIMIT 1001" in sql for sql in counts), counts
    assert not any("OFFSET" in q["sql"].upper() for q in captured)


def test_a_deep_page_asks_for_its_rows_past_a_cursor_not_an_offset(
    alice_client, alice, alice_snapshot
):
    for _ in range(30):
        make_job(alice_snapshot, alice)
    first = alice_client.get(reverse("jobs-list")).text
    with CaptureQueriesContext(connection) as captured:
        alice_client.get(reverse("jobs-list") + _link(first, "next"))
    jobs = [q["sql"] for q in captured if 'FROM "jobs_job"' in q["sql"]]
    assert not any("OFFSET" in sql.upper() for sql in jobs)
    # Ties on the cursor's time first, then the range past it: each a plain index range.
    assert any('"created_at" = ' in sql and '"id" < ' in sql for sql in jobs)
    assert any('"created_at" < ' in sql and "LIMIT" in sql for sql in jobs)


def test_the_list_the_status_partial_and_the_rows_poll_make_few_queries(
    alice_client, alice, alice_snapshot, django_assert_max_num_queries
):
    jobs = [make_job(alice_snapshot, alice, status=JobStatus.COMPLETE) for _ in range(30)]
    running = make_job(alice_snapshot, alice, status=JobStatus.RUNNING, started_at=timezone.now())
    with django_assert_max_num_queries(9):  # rendered: the rows' state, then the rows
        alice_client.get(reverse("jobs-list"))
    # Ended two hours ago: the page says the same for the next hour (no running row's duration).
    Job.objects.update(created_at=timezone.now() - timedelta(hours=2))
    Job.objects.filter(pk=running.pk).update(status=JobStatus.COMPLETE, finished_at=timezone.now())
    alice_client.get(reverse("jobs-list"))
    with django_assert_max_num_queries(6):  # kept: the session, user, state, count, form, approvals
        alice_client.get(reverse("jobs-list"))
    Job.objects.filter(pk=running.pk).update(status=JobStatus.RUNNING, finished_at=None)
    with django_assert_max_num_queries(8):
        alice_client.get(reverse("jobs-status", args=[running.uuid]), headers=HTMX)
    every = "&".join(f"ids={j.uuid}" for j in jobs[:25])
    with django_assert_max_num_queries(9):
        alice_client.get(f"{reverse('jobs-list-rows')}?{every}", headers=HTMX)


def test_a_kept_status_partial_is_one_query_its_session_user_and_job_state_together(
    alice_client, alice, alice_snapshot
):
    # Every second, for each viewer of a running job: the session, its user and the job's
    # state (with the visibility rule) are one query; the region itself is the kept copy.
    job = make_job(alice_snapshot, alice, status=JobStatus.RUNNING, records_read=7,
                   started_at=timezone.now().replace(microsecond=0))  # fmt: skip
    url = reverse("jobs-status", args=[job.uuid])
    first = alice_client.get(url, headers=HTMX)
    with CaptureQueriesContext(connection) as queries:
        kept = alice_client.get(url, headers=HTMX)
    assert kept.status_code == 200 and kept.content == first.content.replace(
        _token(first).encode(), _token(kept).encode()
    )
    assert len(queries) == 1, [q["sql"] for q in queries]
    assert "audit_usersession" in queries[0]["sql"] and "jobs_job" in queries[0]["sql"]
    # The state as the ORM reads it, types included (the kept copy's key is made of it).
    state = Job.objects.filter(pk=job.pk).values_list(*ETAG_FIELDS).get()
    assert kept.wsgi_request.status_state == state
    assert [type(v) for v in kept.wsgi_request.status_state] == [type(v) for v in state]


def _token(response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text)[1]


def test_the_status_partial_read_with_the_session_keeps_to_the_visibility_rule(
    client, alice, charlie, staff, alice_snapshot
):
    job = make_job(alice_snapshot, alice, status=JobStatus.RUNNING, started_at=timezone.now())
    url = reverse("jobs-status", args=[job.uuid])
    assert client.get(url, headers=HTMX).status_code == 302  # no session: the login page
    client.force_login(charlie)  # of another team
    assert client.get(url, headers=HTMX).status_code == 404
    client.force_login(staff)  # every job
    assert client.get(url, headers=HTMX).status_code == 200
    client.force_login(alice)
    assert client.get(url, headers=HTMX).status_code == 200
    alice.is_active = False  # the session's user may no longer log in: the login page
    alice.save()
    assert client.get(url, headers=HTMX).status_code == 302


# --- ETag / 304 -------------------------------------------------------------------------------


def test_the_status_partial_answers_304_until_the_job_changes(alice_client, alice, alice_snapshot):
    job = make_job(alice_snapshot, alice, status=JobStatus.RUNNING, started_at=timezone.now())
    url = reverse("jobs-status", args=[job.uuid])
    first = alice_client.get(url, headers=HTMX)
    assert first.status_code == 200 and first["ETag"]
    assert "no-cache" in first["Cache-Control"] and "private" in first["Cache-Control"]
    again = alice_client.get(url, headers={**HTMX, "If-None-Match": first["ETag"]})
    assert again.status_code == 304 and again.content == b""

    Job.objects.filter(pk=job.pk).update(records_read=500, updated_at=timezone.now())
    changed = alice_client.get(url, headers={**HTMX, "If-None-Match": first["ETag"]})
    assert changed.status_code == 200 and "500" in changed.text
    assert changed["ETag"] != first["ETag"]

    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.COMPLETE, finished_at=timezone.now(), updated_at=timezone.now()
    )
    ended = alice_client.get(url, headers={**HTMX, "If-None-Match": changed["ETag"]})
    assert ended.status_code == 286 and not ended.has_header("ETag")


def test_a_running_jobs_status_partial_is_rendered_once_for_every_viewer(
    alice_client, alice, bob, alice_snapshot
):
    job = make_job(alice_snapshot, alice, status=JobStatus.RUNNING, started_at=timezone.now())
    url = reverse("jobs-status", args=[job.uuid])
    first = alice_client.get(url, headers=HTMX)
    teammate = Client(enforce_csrf_checks=True)
    teammate.force_login(bob)
    with CaptureQueriesContext(connection) as queries:
        kept = teammate.get(url, headers=HTMX)
    assert kept.status_code == 200 and "Cancel job" in kept.text
    assert not any("jobs_jobasset" in q["sql"] for q in queries)  # not rendered again
    # The same content, with a token of bob's own for the cancel form, which his POST passes.
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', kept.text)[1]
    mask = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
    assert mask.sub("", kept.text) == mask.sub("", first.text)
    cancelled = teammate.post(
        reverse("jobs-cancel", args=[job.uuid]), {"csrfmiddlewaretoken": token}
    )
    assert cancelled.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_an_ended_jobs_status_partial_is_kept_for_each_viewer_and_still_ends_polling(
    alice_client, alice, bob, alice_snapshot
):
    job = make_job(alice_snapshot, alice, status=JobStatus.COMPLETE, started_at=timezone.now(),
                   finished_at=timezone.now())  # fmt: skip
    url = reverse("jobs-status", args=[job.uuid])
    first = alice_client.get(url, headers=HTMX)
    with CaptureQueriesContext(connection) as queries:
        again = alice_client.get(url, headers=HTMX)
    assert first.status_code == again.status_code == 286
    assert not any("jobs_jobasset" in q["sql"] for q in queries)  # not rendered again
    teammate = Client()
    teammate.force_login(bob)
    with CaptureQueriesContext(connection) as queries:
        theirs = teammate.get(url, headers=HTMX)
    assert theirs.status_code == 286  # what bob may compare it with is his own render
    assert any("jobs_jobasset" in q["sql"] for q in queries)


def test_a_kept_status_partial_is_not_served_once_the_job_changed(
    alice_client, alice, alice_snapshot
):
    job = make_job(alice_snapshot, alice, status=JobStatus.RUNNING, started_at=timezone.now())
    url = reverse("jobs-status", args=[job.uuid])
    assert "1,234" not in alice_client.get(url, headers=HTMX).text
    Job.objects.filter(pk=job.pk).update(records_read=1234, updated_at=timezone.now())
    assert "1,234" in alice_client.get(url, headers=HTMX).text


def test_the_status_partial_gives_no_304_to_another_team(
    alice_client, charlie, alice, alice_snapshot
):
    job = make_job(alice_snapshot, alice, status=JobStatus.WAITING)
    url = reverse("jobs-status", args=[job.uuid])
    etag = alice_client.get(url, headers=HTMX)["ETag"]
    other = Client()
    other.force_login(charlie)
    other.cookies = alice_client.cookies  # even with alice's CSRF cookie
    other.force_login(charlie)
    assert other.get(url, headers={**HTMX, "If-None-Match": etag}).status_code == 404


def test_the_rows_poll_answers_304_until_a_row_changes(alice_client, alice, alice_snapshot):
    job = make_job(alice_snapshot, alice, status=JobStatus.RUNNING, started_at=timezone.now())
    url = f"{reverse('jobs-list-rows')}?ids={job.uuid}"
    first = alice_client.get(url, headers=HTMX)
    assert first.status_code == 200
    assert alice_client.get(url, headers={"If-None-Match": first["ETag"]}).status_code == 304
    Job.objects.filter(pk=job.pk).update(records_read=7, updated_at=timezone.now())
    assert alice_client.get(url, headers={"If-None-Match": first["ETag"]}).status_code == 200


def test_the_rows_polls_etag_follows_each_of_its_jobs_and_only_those_the_user_sees(
    alice_client, alice, charlie, alice_snapshot
):
    mine = [make_job(alice_snapshot, alice, status=JobStatus.RUNNING) for _ in range(3)]
    theirs_snapshot = SnapshotFactory(
        model=ModelFactory(owner=charlie, team=charlie.groups.first())
    )
    theirs = make_job(theirs_snapshot, charlie, status=JobStatus.RUNNING)
    ids = "&".join(f"ids={job.uuid}" for job in [*mine, theirs])
    url = f"{reverse('jobs-list-rows')}?{ids}"
    first = alice_client.get(url, headers=HTMX)
    assert first.status_code == 200 and str(theirs.uuid) not in first.content.decode()
    unchanged = {**HTMX, "If-None-Match": first["ETag"]}
    assert alice_client.get(url, headers=unchanged).status_code == 304
    Job.objects.filter(pk=theirs.pk).update(records_read=9, updated_at=timezone.now())
    assert alice_client.get(url, headers=unchanged).status_code == 304  # not alice's to see
    Job.objects.filter(pk=mine[2].pk).update(records_read=9, updated_at=timezone.now())
    again = alice_client.get(url, headers=unchanged)
    assert again.status_code == 200 and again["ETag"] != first["ETag"]
    # Another number of ids is another prepared shape: it too sees what it should.
    two = f"{reverse('jobs-list-rows')}?ids={mine[0].uuid}&ids={theirs.uuid}"
    assert alice_client.get(two, headers=HTMX).status_code == 200


# --- New jobs at the top ----------------------------------------------------------------------


def _poll_url(page: str) -> str:
    match = re.search(r'hx-get="(/jobs/rows/[^"]+)"', page)
    return html.unescape(match[1]) if match else ""


def test_the_first_page_watches_for_newer_jobs_and_gets_them_at_the_top(
    alice_client, alice, alice_snapshot
):
    old = make_job(alice_snapshot, alice, status=JobStatus.COMPLETE)
    page = alice_client.get(reverse("jobs-list")).text
    poll = _poll_url(page)
    assert "newer=" in poll and 'hx-trigger="every 5s"' in page  # nothing runs: a slow poll
    quiet = alice_client.get(poll, headers=HTMX)
    assert quiet.status_code == 200  # still watching: no 286
    assert alice_client.get(poll, headers={"If-None-Match": quiet["ETag"]}).status_code == 304

    new = make_job(alice_snapshot, alice, status=JobStatus.WAITING)
    response = alice_client.get(poll, headers={**HTMX, "If-None-Match": quiet["ETag"]})
    assert response.status_code == 200
    text = response.text
    assert '<tbody hx-swap-oob="afterbegin:#job-rows">' in text
    assert f'<tr id="job-row-{new.uuid}" class=' in text  # inserted, not swapped by id
    assert f"job-row-{old.uuid}" not in text
    # The poll comes again, now for the new unfinished row and past it.
    assert '<p id="list-live" class="list-live small" hx-swap-oob="true">' in text
    again = _poll_url(text)
    assert f"ids={new.uuid}" in again and again != poll and 'every 2s"' in text


def test_newer_jobs_follow_the_lists_filters_and_team(alice_client, alice, alice_snapshot, charlie):
    make_job(alice_snapshot, alice, status=JobStatus.COMPLETE)
    poll = _poll_url(alice_client.get(reverse("jobs-list"), {"status": "ERROR"}).text)
    assert poll == ""  # no row: nothing to be newer than
    make_job(alice_snapshot, alice, status=JobStatus.ERROR)
    poll = _poll_url(alice_client.get(reverse("jobs-list"), {"status": "ERROR"}).text)
    assert "status=ERROR" in poll
    waiting = make_job(alice_snapshot, alice, status=JobStatus.WAITING)
    charlie_model = ModelFactory(owner=charlie, team=charlie.groups.get(), name="theirs")
    theirs = make_job(SnapshotFactory(model=charlie_model), charlie, status=JobStatus.ERROR)
    text = alice_client.get(poll, headers=HTMX).text
    assert str(waiting.uuid) not in text and str(theirs.uuid) not in text


def test_older_pages_and_other_sorts_do_not_watch_for_newer_jobs(
    alice_client, alice, alice_snapshot
):
    for _ in range(30):
        make_job(alice_snapshot, alice, status=JobStatus.COMPLETE)
    first = alice_client.get(reverse("jobs-list")).text
    assert _poll_url(first)
    assert not _poll_url(alice_client.get(reverse("jobs-list") + _link(first, "next")).text)
    assert not _poll_url(alice_client.get(reverse("jobs-list"), {"sort": "status"}).text)
