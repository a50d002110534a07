"""The API docs page works in a real browser: Swagger UI, served by this site, lists the
endpoints from the schema. (Here, not in tests/api/, to share the one Playwright session.)"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_docs_page_lists_the_api_in_a_browser(page, live_server, alice):
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    log_in(page, live_server, "alice", PASSWORD)

    page.goto(f"{live_server.url}/api/docs/")

    expect(page.get_by_text("Command Center API").first).to_be_visible()
    expect(
        page.locator(".opblock-summary-path", has_text="/api/jobs/{job_uuid}/cancel/")
    ).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/auth/token/")).to_be_visible()
    assert not [p for p in problems if "favicon" not in p], problems
