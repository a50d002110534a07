"""A person promotes a snapshot to champion on the model page in headless Chromium, with and
without JavaScript, and reads each version's key metrics and their chart at desktop and phone
width without the page growing wider than the screen."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from jobs.models import Job, JobStatus, JobType
from models_registry.models import Promotion
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD
from tests.factories import SnapshotFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _metrics_job(snapshot, metrics) -> Job:
    return Job.objects.create(
        snapshot=snapshot, created_by=snapshot.created_by, status=JobStatus.COMPLETE,
        job_type=JobType.METRICS, metrics=metrics,
    )  # fmt: skip


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_promote_from_the_model_page(browser, live_server, alice_model, javascript):
    v1 = SnapshotFactory(model=alice_model, version=1)
    SnapshotFactory(model=alice_model, version=2)
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    log_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}{alice_model.get_absolute_url()}")

    page.get_by_label("Reason for promoting v1").fill("best on holdout")
    page.get_by_label("Reason for promoting v1").locator("..").get_by_role(
        "button", name="Promote to champion"
    ).click()

    expect(page.get_by_text("Version 1 is now the champion.")).to_be_visible()
    expect(page.locator("tr.champion-row .badge-champion")).to_have_count(1)
    expect(page.locator("tr.champion-row")).to_contain_text("v1")
    expect(page.locator("#promotions")).to_contain_text("best on holdout")
    expect(page.get_by_label("Reason for promoting v1")).to_have_count(0)
    promotion = Promotion.objects.get()
    assert (promotion.snapshot, promotion.reason) == (v1, "best on holdout")
    context.close()


@pytest.mark.parametrize("width", [1366, 390])
def test_key_metrics_and_their_chart_fit_the_screen(browser, live_server, alice_model, width):
    for version, auc in ((1, 0.8123), (2, 0.9234), (3, 0.8765)):
        snapshot = SnapshotFactory(model=alice_model, version=version)
        _metrics_job(snapshot, {"auc": auc, "accuracy": auc - 0.05, "f1_score": auc - 0.1})
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    log_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}{alice_model.get_absolute_url()}")

    chart = page.get_by_role("img", name="Key metrics by version")
    expect(chart).to_be_visible()
    expect(chart.locator("rect.chart-bar")).to_have_count(9)
    expect(page.locator("td.key-metrics").first).to_contain_text("AUC 0.8765")
    # Nothing reaches past the screen's right edge; wide tables scroll in their cards.
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => !(e.parentElement && e.parentElement.closest('.table-scroll')))
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 8).map(e => e.tagName + '.' + e.className)"""
    )
    assert not wide, f"wider than a {width}px screen: {wide}"
    beyond = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert beyond <= 0, f"something makes the page {beyond}px wider (positioned content?)"
    box = chart.bounding_box()
    assert box and 0 < box["width"] <= width
    if os.environ.get("CHAMPION_SCREENSHOT"):
        page.screenshot(path=f"{os.environ['CHAMPION_SCREENSHOT']}-{width}.png", full_page=True)
    context.close()
