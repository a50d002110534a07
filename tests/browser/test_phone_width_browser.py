"""Every main page at desktop (1366 px) and phone (390 px) width in headless Chromium: a
screenshot of each, and no page wider than the screen (no element sticks out past the
viewport unless it sits in a box that scrolls)."""

from __future__ import annotations

import os

import pytest
from django.urls import reverse
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from jobs.models import Job, JobType
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD
from tests.jobs.every_job import every_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1366, 390)

# Elements past the right edge of the viewport that are not inside a box that scrolls (or
# clips) and itself fits; and the document's own scroll width.
OVERFLOW = """() => {
  const width = window.innerWidth;
  const found = [];
  if (document.documentElement.scrollWidth > width) {
    found.push(`document: ${document.documentElement.scrollWidth} > ${width}`);
  }
  const contained = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const style = getComputedStyle(p);
      if (["auto", "scroll", "hidden", "clip"].includes(style.overflowX)) {
        return p.getBoundingClientRect().right <= width + 1;
      }
    }
    return false;
  };
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if ((box.right > width + 1 || box.left < -1) && !contained(el)) {
      found.push(`${el.tagName.toLowerCase()}.${el.className.baseVal ?? el.className}: ` +
                 `${Math.round(box.left)}..${Math.round(box.right)}`);
    }
  }
  return found.slice(0, 10);
}"""


def _pages(snapshot, user, staff) -> list[tuple[str, str]]:
    jobs = every_job(snapshot, user)
    metrics = [j for j in jobs if j.job_type == JobType.METRICS and j.status == "COMPLETE"]
    scoring = [j for j in jobs if j.job_type == JobType.SCORING and j.status == "COMPLETE"]
    other = every_job(snapshot, user)  # a second complete metrics and scoring job
    metrics += [j for j in other if j.job_type == JobType.METRICS and j.status == "COMPLETE"]
    scoring += [j for j in other if j.job_type == JobType.SCORING and j.status == "COMPLETE"]
    pages = [
        ("home", "/"),
        ("jobs-list", reverse("jobs-list")),
        ("model", snapshot.model.get_absolute_url()),
        ("models", reverse("registry-model-list")),
        ("snapshot", snapshot.get_absolute_url()),
        ("runtimes", reverse("runtimes-list")),
        ("wizard", f"{reverse('jobs-wizard-start')}?snapshot={snapshot.uuid}"),
        ("compare", f"{reverse('jobs-compare')}?job={metrics[0].uuid}&job={metrics[1].uuid}"),
        (
            "scoring-diff",
            f"{reverse('jobs-scoring-diff', args=[scoring[0].uuid])}?other={scoring[1].uuid}"
            "&segment=a_rather_long_column_name_1",
        ),
    ]
    pages += [(f"job-{j.job_type}-{j.status.lower()}", j.get_absolute_url()) for j in jobs]
    return pages


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_is_wider_than_the_screen(
    browser, live_server, alice, staff, alice_snapshot, width
):
    pages = _pages(alice_snapshot, alice, None)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        log_in(page, live_server, "alice", PASSWORD)
        problems = {}
        for name, url in pages:
            page.goto(f"{live_server.url}{url}")
            page.wait_for_load_state("load")
            if os.environ.get("SCREENSHOT_DIR"):
                page.screenshot(
                    path=f"{os.environ['SCREENSHOT_DIR']}/{name}-{width}.png", full_page=True
                )
            found = page.evaluate(OVERFLOW)
            if found:
                problems[name] = found
        # The wizard's steps, as far as a person gets by choosing the first option of each.
        page.goto(f"{live_server.url}{reverse('jobs-wizard-start')}?snapshot={alice_snapshot.uuid}")
        for step in range(6):
            found = page.evaluate(OVERFLOW)
            if found:
                problems[f"wizard-{step}"] = found
            if os.environ.get("SCREENSHOT_DIR"):
                page.screenshot(path=f"{os.environ['SCREENSHOT_DIR']}/wizard-{step}-{width}.png")
            radios = page.locator("main input[type=radio]:not(:disabled):visible")
            if radios.count() and not page.locator("main input[type=radio]:checked").count():
                radios.first.check()
            go = page.get_by_role("button", name="Continue")
            if not go.count():
                break
            # The step's form is posted: wait for the next page itself, not the load state of
            # the one still shown (which has long been reached: its radios were then counted
            # while the browser left it). A step its first options do not complete (a file
            # to upload) stays: that is as far as this walk gets.
            try:
                with page.expect_navigation(timeout=15_000):
                    go.first.click()
            except PlaywrightTimeoutError:
                break
    finally:
        context.close()
    # Staff pages: the audit trail; connections are managed in the admin.
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        log_in(page, live_server, "staff", PASSWORD)
        for name in ("audit-list", "admin:jobs_connection_changelist", "admin:jobs_connection_add"):
            page.goto(f"{live_server.url}{reverse(name)}")
            if os.environ.get("SCREENSHOT_DIR"):
                page.screenshot(path=f"{os.environ['SCREENSHOT_DIR']}/{name}-{width}.png")
            found = page.evaluate(OVERFLOW)
            # Django's admin has a phone layout of its own, whose tables scroll the page.
            if found and (width > 800 or not name.startswith("admin:")):
                problems[name] = found
    finally:
        context.close()
    assert problems == {}, problems
    assert Job.objects.count() == 36
