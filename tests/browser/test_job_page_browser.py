"""The job page in headless Chromium: the "Job submitted." banner goes when the job ends, what
each job type shows, and the scoring diff reached from a scoring job's page."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from jobs.models import Job, JobStatus, JobType
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD
from tests.factories import SnapshotFactory
from tests.jobs.every_job import make_job
from tests.jobs.test_scoring_diff import records, scoring_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_the_submitted_banner_goes_when_the_job_ends(page, live_server, alice, alice_snapshot):
    done = make_job(alice_snapshot, alice, JobType.SCORING, JobStatus.COMPLETE)
    log_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}{done.get_absolute_url()}")
    page.get_by_role("button", name="Run again").click()
    expect(page.locator("#job-messages")).to_contain_text("Job submitted.")
    again = Job.objects.exclude(pk=done.pk).get()
    assert page.url.endswith(again.get_absolute_url())
    # No worker serves this test's queue: the test ends the job as a worker would.
    Job.objects.filter(pk=again.pk).update(
        status=JobStatus.COMPLETE, finished_at=timezone.now(), records_read=1, records_written=1
    )
    # The next poll sees it; on a machine busy with the rest of the suite polls can lag.
    expect(page.locator("#job-messages")).not_to_contain_text("Job submitted.", timeout=45_000)
    expect(page.locator(".live-indicator")).to_have_count(0)  # polling stopped
    expect(page.locator(".status-card .badge")).to_have_text("Complete")


def test_each_job_type_shows_what_means_something_for_it(page, live_server, alice, alice_snapshot):
    metrics = make_job(alice_snapshot, alice, JobType.METRICS, JobStatus.COMPLETE)
    training = make_job(alice_snapshot, alice, JobType.TRAINING, JobStatus.COMPLETE)
    training.result_snapshot = SnapshotFactory(model=alice_snapshot.model, version=2)
    training.save()
    cancelled = make_job(alice_snapshot, alice, JobType.SCORING, JobStatus.CANCELLED)
    log_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}{metrics.get_absolute_url()}")
    stats = page.locator(".status-card dl.stats")
    expect(stats).to_contain_text("Records read")
    expect(stats.locator("dt", has_text="Written")).to_have_count(0)
    expect(stats.locator("dt", has_text="Rate")).to_have_count(0)
    page.goto(f"{live_server.url}{training.get_absolute_url()}")
    expect(page.locator(".trained-on")).to_contain_text("Trained on 1,000 records of")
    expect(page.locator(".trained-on")).to_contain_text("records.jsonl")
    expect(page.locator(".new-snapshot")).to_contain_text("echo v2")
    page.goto(f"{live_server.url}{cancelled.get_absolute_url()}")
    expect(page.locator(".cancelled-note")).to_contain_text("Its output was discarded")


def test_a_scoring_diff_from_the_job_page(page, live_server, alice, alice_snapshot):
    champion = scoring_job(alice_snapshot, alice, records([0.1, 0.9, 0.4, 0.8, 0.2, 0.7]))
    v2 = SnapshotFactory(model=alice_snapshot.model, version=2)
    challenger = scoring_job(v2, alice, records([0.1, 0.9, 0.6, 0.3, 0.2, 0.65]))
    log_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}{champion.get_absolute_url()}")
    page.get_by_role("link", name="Compare with another scoring job on this input").click()
    page.get_by_label("Job B").select_option(str(challenger.uuid))
    page.get_by_label("Segment by column").fill("region")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator(".diff-agreement")).to_have_text("66.67%")
    expect(page.get_by_role("img", name="Distribution of score")).to_be_visible()
    first = page.locator(".diff-top tbody tr").first
    expect(first).to_contain_text("3")
    expect(page.locator(".diff-segments tbody tr")).to_have_count(2)
    expect(page.locator(".diff-summary")).to_contain_text(f"v2 · {str(challenger.uuid)[:8]}")
