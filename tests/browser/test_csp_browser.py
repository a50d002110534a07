"""The Content-Security-Policy allows no inline script or style: the pages must work under it
with no violation reported by the browser (htmx polling and the admin included)."""

from __future__ import annotations

import pytest

from jobs.models import JobAsset
from jobs.services import InputSpec, job_submit
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD
from tests.demo import demo_snapshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_pages_run_under_the_content_security_policy_without_violations(
    page, live_server, staff, team_alpha, monkeypatch
):
    monkeypatch.setattr("jobs.services.placement.job_enqueue", lambda *, job_uuid, queue: True)
    staff.groups.add(team_alpha)
    snapshot = demo_snapshot(owner=staff, team=team_alpha)
    job = job_submit(
        user=staff, snapshot=snapshot,
        inputs=[InputSpec(kind=JobAsset.Kind.EMBEDDED, data='{"id": 1}\n')],
    )  # fmt: skip
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if "Content Security Policy" in m.text or "Refused to" in m.text
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))

    log_in(page, live_server, "staff", PASSWORD)
    urls = [
        "/jobs/", "/models/", snapshot.model.get_absolute_url(), snapshot.get_absolute_url(),
        "/jobs/new/", "/audit/", "/admin/", "/admin/jobs/connection/add/",
    ]  # fmt: skip
    for url in urls:
        response = page.goto(f"{live_server.url}{url}")
        assert response.status == 200, url
        assert "Content-Security-Policy" in {k.title(): v for k, v in response.headers.items()}
    # The job page polls its live region through htmx: those requests run under the policy.
    page.goto(f"{live_server.url}{job.get_absolute_url()}")
    with page.expect_response(lambda r: "/status/" in r.url):
        pass
    page.wait_for_timeout(500)

    assert problems == []
