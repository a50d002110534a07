"""The jobs list's running rows update live, and cancel asks first, in headless Chromium under
the Content-Security-Policy."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from jobs.models import Job, JobAsset, JobStatus
from jobs.services import runtime_default
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _job(snapshot, user, **fields) -> Job:
    job = Job.objects.create(
        snapshot=snapshot, created_by=user, runtime=runtime_default(), **fields
    )
    JobAsset.objects.create(
        job=job, direction="in", kind="embedded", name="live.jsonl", data='{"x": 1}\n', size=9
    )
    JobAsset.objects.create(job=job, direction="out", kind="embedded", name="output.jsonl")
    return job


def _watch_problems(page) -> list[str]:
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" or "Refused" in m.text else None,
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def test_a_running_row_updates_live_and_polling_stops_when_it_ends(
    page, live_server, alice, alice_snapshot
):
    running = _job(
        alice_snapshot, alice, status=JobStatus.RUNNING, started_at=timezone.now(),
        bytes_total=100, bytes_read=0,
    )  # fmt: skip
    done = _job(alice_snapshot, alice, status=JobStatus.COMPLETE, started_at=timezone.now(),
                finished_at=timezone.now(), records_written=3)  # fmt: skip
    problems = _watch_problems(page)
    log_in(page, live_server, "alice", PASSWORD)
    row = page.locator(f"#job-row-{running.uuid}")
    expect(row).to_contain_text("0 read")

    Job.objects.filter(pk=running.pk).update(records_read=512, bytes_read=50)
    expect(row).to_contain_text("512 read")
    expect(row.locator("progress")).to_have_attribute("value", "50")

    Job.objects.filter(pk=running.pk).update(
        status=JobStatus.COMPLETE, finished_at=timezone.now(), records_written=510,
        records_rejected=2,
    )  # fmt: skip
    expect(row).to_contain_text("510 written")
    expect(row.locator(".badge")).to_have_text("Complete")
    expect(page.locator(f"#job-row-{done.uuid}")).to_contain_text("3 written")
    expect(page.locator("#list-live .live-indicator")).to_have_count(0)

    # No more polls for rows once none runs (the first page only watches for newer jobs).
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/jobs/rows/" in r.url else None)
    page.wait_for_timeout(4500)
    assert [url for url in polls if "ids=" in url] == []
    assert page.locator("tbody tr").count() == 2  # rows replaced in place, none added
    assert problems == []


def test_a_job_created_elsewhere_appears_at_the_top_without_a_reload(
    page, live_server, alice, alice_snapshot
):
    old = _job(alice_snapshot, alice, status=JobStatus.COMPLETE, started_at=timezone.now(),
               finished_at=timezone.now(), records_written=3)  # fmt: skip
    problems = _watch_problems(page)
    log_in(page, live_server, "alice", PASSWORD)
    expect(page.locator("tbody tr")).to_have_count(1)
    loads: list[str] = []
    page.on("load", lambda: loads.append(page.url))

    new = _job(alice_snapshot, alice, status=JobStatus.RUNNING, started_at=timezone.now())
    expect(page.locator("tbody tr").first).to_have_id(f"job-row-{new.uuid}", timeout=12_000)
    expect(page.locator(f"#job-row-{old.uuid}")).to_have_count(1)
    # The new row is live too: its progress comes in by the row poll.
    Job.objects.filter(pk=new.pk).update(records_read=777, updated_at=timezone.now())
    expect(page.locator(f"#job-row-{new.uuid}")).to_contain_text("777 read", timeout=8_000)
    assert page.locator("tbody tr").count() == 2 and loads == []
    assert problems == []


def test_cancel_asks_first_and_does_nothing_when_declined(page, live_server, alice, alice_snapshot):
    job = _job(alice_snapshot, alice, status=JobStatus.WAITING)
    problems = _watch_problems(page)
    log_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}{job.get_absolute_url()}")
    questions: list[str] = []

    def decline(dialog):
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", decline)
    page.get_by_role("button", name="Cancel job").click()
    page.wait_for_timeout(1500)
    assert questions and "Cancel this job?" in questions[0]
    job.refresh_from_db()
    assert job.status == JobStatus.WAITING

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel job").click()
    expect(page.locator("#job-live .badge")).to_have_text("Cancelled")
    expect(page.locator("#job-live")).to_contain_text("Its output was discarded")
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert problems == []
