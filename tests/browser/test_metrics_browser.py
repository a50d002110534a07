"""A person opens a finished metrics job in headless Chromium and sees its plots."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from jobs.models import Job, JobStatus, JobType
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD
from tests.jobs.test_metrics_pages import BIAS, CLASSIFICATION, IMPORTANCE, REGRESSION

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _metrics_job(snapshot, user, metrics) -> Job:
    return Job.objects.create(
        snapshot=snapshot,
        created_by=user,
        status=JobStatus.COMPLETE,
        job_type=JobType.METRICS,
        metrics=metrics,
    )


def test_a_completed_metrics_job_shows_its_plots(page, live_server, alice, alice_snapshot):
    metrics = {**CLASSIFICATION, "bias": BIAS, "interpretability": IMPORTANCE}
    job = _metrics_job(alice_snapshot, alice, metrics)
    log_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}{job.get_absolute_url()}")

    plots = page.locator("figure.plot svg[role=img]")
    expect(plots).to_have_count(4)
    for index in range(4):
        expect(plots.nth(index)).to_be_visible()
    expect(page.get_by_role("img", name="ROC curve (AUC = 0.943)")).to_be_visible()
    expect(page.get_by_role("img", name="Confusion matrix")).to_be_visible()
    for count in ("517", "23", "61", "399"):
        expect(page.locator(".cm-count", has_text=re.compile(f"^{count}$"))).to_be_visible()
    expect(page.locator(".fairness tr.flagged")).to_contain_text("under-25")
    expect(page.locator(".fairness .badge-flagged")).to_have_text(re.compile("flagged", re.I))
    box = page.get_by_role("img", name="Confusion matrix").bounding_box()
    assert box and box["width"] > 150 and box["height"] > 150
    if os.environ.get("METRICS_SCREENSHOT"):
        page.screenshot(path=os.environ["METRICS_SCREENSHOT"], full_page=True)

    page.get_by_text("Raw JSON").click()
    expect(page.locator("details.raw-json pre")).to_contain_text('"accuracy": 0.9123')


def test_compare_with_another_job_from_the_job_page(page, live_server, alice, alice_snapshot):
    first = _metrics_job(alice_snapshot, alice, CLASSIFICATION)
    _metrics_job(alice_snapshot, alice, {**CLASSIFICATION, "accuracy": 0.95})
    _metrics_job(alice_snapshot, alice, REGRESSION)
    log_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}{first.get_absolute_url()}")
    page.get_by_label("Another completed metrics job").select_option(index=1)
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**/jobs/compare/?a=*")
    expect(page.get_by_role("heading", name="Compare metrics")).to_be_visible()
    expect(page.locator(".compare-table td.diff.better")).to_contain_text("+0.0377")
    expect(page.get_by_role("img", name="ROC curves")).to_be_visible()
    if os.environ.get("METRICS_SCREENSHOT"):
        page.screenshot(path=os.environ["METRICS_SCREENSHOT"] + ".compare.png", full_page=True)
