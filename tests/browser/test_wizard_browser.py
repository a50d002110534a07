"""A person walks the ten-step wizard in headless Chromium and watches the job finish."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from jobs.models import Job, JobStatus
from models_registry import demo
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD
from tests.demo import demo_snapshot

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sample_file(tmp_path):
    return demo.write_sample_jsonl(tmp_path / "iris_sample.jsonl")


def _continue(page, next_step: str) -> None:
    """Click Continue and wait until the wizard shows NEXT_STEP; on failure, say what the page
    shows instead (the CI log is all one gets)."""
    page.get_by_role("button", name="Continue").click()
    try:
        page.wait_for_url(f"**/jobs/new/{next_step}/")
        page.locator("#wizard").wait_for()
        # htmx pushes the URL before it has settled the new step; a click during the swap
        # would land on the old form.
        page.wait_for_function(
            "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
        )
    except Exception as exc:
        raise AssertionError(
            f"expected the wizard's {next_step!r} step at {page.url}; the page says:\n"
            + page.locator("body").inner_text()[:3000]
        ) from exc


def _walk_wizard(page, live_server, sample_file, *, javascript: bool = True) -> None:
    page.goto(f"{live_server.url}/jobs/")
    page.get_by_role("link", name="Create a new batch job").first.click()
    page.wait_for_url("**/jobs/new/model/")
    # 3. model, 4. snapshot, 5. runtime, 6. job type
    page.get_by_label(re.compile("iris")).check()
    _continue(page, "snapshot")
    page.get_by_label(re.compile(r"v1|Version 1")).check()
    _continue(page, "runtime")
    page.get_by_label(re.compile("Let the system choose")).check()
    _continue(page, "type")
    page.get_by_label(re.compile("Scoring")).check()
    _continue(page, "schemas")
    # 7. schemas: the header tags' defaults, input checking on
    expect(page.get_by_label("Input schema")).to_have_value("input_schema.avsc")
    page.get_by_label("Check input records").check()
    _continue(page, "inputs")
    # 8. input: upload the sample file
    # With JavaScript the chosen file is sent at once (wizard.js); without, by Add input.
    page.get_by_label("Upload a file").set_input_files(str(sample_file))
    if not javascript:
        page.get_by_role("button", name="Add input").click()
    expect(page.get_by_text("iris_sample.jsonl")).to_be_visible()
    if javascript:  # the upload's swap is over before Continue is clicked
        page.wait_for_function(
            "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
        )
    _continue(page, "output")
    # 9. output: embedded
    page.get_by_label(re.compile("Embedded: kept|^Embedded")).check()
    _continue(page, "review")
    # 10. review, then run
    expect(page.get_by_text("input_schema.avsc").first).to_be_visible()
    page.get_by_role("button", name="Run job").click()


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-javascript"])
def test_the_wizard_runs_the_demo_model_and_the_job_page_turns_complete(
    browser, live_server, celery_worker, alice, team_alpha, sample_file, javascript
):
    demo_snapshot(owner=alice, team=team_alpha)
    context = browser.new_context(java_script_enabled=javascript)
    context.set_default_timeout(20_000)
    page = context.new_page()
    log_in(page, live_server, "alice", PASSWORD)

    _walk_wizard(page, live_server, sample_file, javascript=javascript)

    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    # The page updates itself (htmx polling, or a refresh without JavaScript).
    expect(page.locator(".badge-complete").first).to_be_visible(timeout=60_000)
    preview = page.locator("table.preview")
    expect(preview).to_be_visible()
    expect(preview).to_contain_text("predicted_species")
    expect(preview).to_contain_text(re.compile("setosa|versicolor|virginica"))
    job = Job.objects.get()
    assert job.status == JobStatus.COMPLETE
    assert (job.records_read, job.records_written) == (150, 150)
    assert job.check_input_schema and job.input_schema == "input_schema.avsc"
    context.close()


def test_going_back_keeps_earlier_answers(browser, live_server, alice, team_alpha):
    demo_snapshot(owner=alice, team=team_alpha)
    page = browser.new_page()
    log_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/jobs/new/")
    page.get_by_label(re.compile("iris")).check()
    _continue(page, "snapshot")
    page.get_by_label(re.compile(r"v1|Version 1")).check()
    _continue(page, "runtime")

    page.get_by_role("link", name="Back").click()
    expect(page.get_by_label(re.compile(r"v1|Version 1"))).to_be_checked()
    page.get_by_role("link", name="Back").click()
    expect(page.get_by_label(re.compile("iris"))).to_be_checked()
    page.close()
