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
    expect(page.get_by_role("img", name="ROC curve (AUC = 0.9432)")).to_be_visible()
    expect(page.get_by_role("img", name="Precision–recall curve (AP = 0.768)")).to_be_visible()
    expect(page.locator(".plot-baseline")).to_have_count(1)  # a level line: no height to "see"
    expect(page.get_by_role("img", name="Confusion matrix")).to_be_visible()
    expect(page.locator(".cm-share", has_text="13.3%")).to_be_visible()
    # Each importance label lies right of its whisker and inside the drawn chart.
    boxes = page.evaluate("""() => {
      const svg = document.querySelector("figure.importance svg");
      const width = svg.viewBox.baseVal.width;
      const lines = [...svg.querySelectorAll(".plot-error")].map(l => l.getBBox());
      const labels = [...svg.querySelectorAll(".fi-value")].map(t => t.getBBox());
      return {width, lines: lines.map(b => b.x + b.width), labels: labels.map(b => [b.x, b.x + b.width])};
    }""")
    assert len(boxes["labels"]) == 2
    for end, (left, right) in zip(boxes["lines"], boxes["labels"], strict=True):
        assert left > end and right <= boxes["width"]
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
    page.get_by_label("Other completed metrics jobs").select_option(index=[0, 1])
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**/jobs/compare/?job=*")
    expect(page.get_by_role("heading", name="Compare metrics")).to_be_visible()
    expect(page.locator(".compare-job")).to_have_count(3)  # three jobs at once
    expect(page.locator(".compare-table .diff.better")).to_contain_text("+0.0377")
    expect(page.get_by_role("img", name="ROC curves")).to_be_visible()
    expect(page.locator(".compare-confusions figure")).to_have_count(2)  # the regression has none
    expect(page.locator(".compare-settings")).to_contain_text("Positive label")
    if os.environ.get("METRICS_SCREENSHOT"):
        page.screenshot(path=os.environ["METRICS_SCREENSHOT"] + ".compare.png", full_page=True)
