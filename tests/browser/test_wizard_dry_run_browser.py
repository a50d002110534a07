"""Issue 16's wizard steps and issue 15's dry run, in headless Chromium with a real Celery
worker: steps numbered from 1, the evaluator only beside Metrics, no output step for a
training job, and "Try on the first 100 records" showing the model's output before any job
exists (with htmx, and as a plain form without JavaScript)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from jobs.models import Job
from models_registry.services import model_create
from tests.browser.conftest import log_in
from tests.browser.test_wizard_browser import _continue
from tests.conftest import PASSWORD
from tests.demo import demo_snapshot

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ALL_FUNCTIONS = (
    "# modelop.score\ndef action(d):\n    yield d\n\n"
    "# modelop.metrics\ndef metrics(df):\n    yield {'n': len(df)}\n\n"
    "# modelop.train\ndef train(df):\n    open('outputDir/weights.txt', 'w').write(str(len(df)))\n"
)


def _page(browser, live_server, javascript: bool = True):
    context = browser.new_context(java_script_enabled=javascript)
    context.set_default_timeout(20_000)
    page = context.new_page()
    log_in(page, live_server, "alice", PASSWORD)
    return context, page


def _to_inputs(page, live_server, model_label: str, job_type: str) -> None:
    page.goto(f"{live_server.url}/jobs/new/")
    expect(page.locator("h2")).to_have_text("1. Model")
    page.get_by_label(re.compile(model_label)).check()
    _continue(page, "snapshot")
    expect(page.locator("h2")).to_have_text("2. Snapshot")
    _continue(page, "runtime")
    page.get_by_label(re.compile("Let the system choose")).check()
    _continue(page, "type")
    page.get_by_label(re.compile(job_type)).check()
    _continue(page, "schemas")


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-javascript"])
def test_try_on_the_first_100_records_shows_the_scores_before_any_job_exists(
    browser, live_server, celery_worker, alice, team_alpha, tmp_path, javascript
):
    from models_registry import demo

    demo_snapshot(owner=alice, team=team_alpha)
    sample = demo.write_sample_jsonl(tmp_path / "iris.jsonl")
    context, page = _page(browser, live_server, javascript)
    _to_inputs(page, live_server, "iris", "Scoring")
    page.get_by_label("Check input records").check()
    _continue(page, "inputs")
    page.get_by_label("Upload a file").set_input_files(str(sample))
    if not javascript:  # with JavaScript the chosen file is sent at once
        page.get_by_role("button", name="Add input").click()
    expect(page.locator("table.table")).to_contain_text("iris.jsonl")
    _continue(page, "output")
    _continue(page, "review")
    expect(page.locator("h2")).to_have_text("8. Review")

    page.get_by_role("button", name="Try on the first 100 records").click()
    region = page.locator("#dry-run")
    expect(region).to_contain_text("Read 100 records", timeout=90_000)
    expect(region).to_contain_text("Nothing was saved.")
    expect(region.locator("table.dry-run-output tbody tr")).to_have_count(100)
    expect(region.locator("table.dry-run-output")).to_contain_text(
        re.compile("setosa|versicolor|virginica")
    )
    expect(region).to_contain_text(
        "Input schema input_schema.avsc: every record of the sample fits"
    )
    assert not Job.objects.exists()
    # The job is still to be launched, from the same review.
    page.get_by_role("button", name="Run job").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    assert Job.objects.count() == 1
    context.close()


def test_a_dry_run_of_a_model_that_fails_shows_the_error(
    browser, live_server, celery_worker, alice, team_alpha
):
    model_create(owner=alice, team=team_alpha, name="broken", source_name="broken.py",
                 source="import no_such_module\n# modelop.score\ndef f(d):\n    yield d\n")  # fmt: skip
    context, page = _page(browser, live_server)
    _to_inputs(page, live_server, "broken", "Scoring")
    _continue(page, "inputs")
    page.get_by_label("Paste the data").fill('{"x": 1}\n')
    _continue(page, "output")
    _continue(page, "review")
    page.get_by_role("button", name="Try on the first 100 records").click()
    expect(page.locator("#dry-run .alert-error")).to_contain_text("no_such_module", timeout=90_000)
    assert not Job.objects.exists()
    context.close()


def test_the_evaluator_shows_only_for_metrics_and_training_skips_the_output_step(
    browser, live_server, celery_worker, alice, team_alpha
):
    model_create(owner=alice, team=team_alpha, name="allround", source_name="m.py",
                 source=ALL_FUNCTIONS)  # fmt: skip
    context, page = _page(browser, live_server)
    _to_inputs(page, live_server, "allround", "Scoring")
    page.get_by_role("link", name=re.compile("Job type")).click()
    evaluator = page.get_by_label("Also run the built-in evaluator")
    page.get_by_label(re.compile("Scoring")).check()
    expect(evaluator).to_be_hidden()
    page.get_by_label(re.compile("Metrics")).check()
    expect(evaluator).to_be_visible()
    page.get_by_label(re.compile("Training")).check()
    expect(evaluator).to_be_hidden()
    _continue(page, "schemas")
    _continue(page, "inputs")
    expect(page.locator("ol.steps")).not_to_contain_text("Output asset")
    page.get_by_label("Paste the data").fill('{"x": 1}\n{"x": 2}\n')
    _continue(page, "review")
    expect(page.locator("h2")).to_have_text("7. Review")
    expect(page.locator("dl.review")).to_contain_text("A new snapshot of allround")
    page.get_by_role("button", name="Try on the first 100 records").click()
    expect(page.locator("#dry-run")).to_contain_text("weights.txt", timeout=90_000)
    context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-javascript"])
def test_the_model_step_searches_as_one_types_and_tells_twins_apart(
    browser, live_server, alice, team_alpha, javascript
):
    from django.contrib.auth.models import Group

    beta = Group.objects.create(name="beta")
    alice.groups.add(beta)
    for team in (team_alpha, beta):
        model_create(owner=alice, team=team, name="churn", source_name="m.py",
                     source=ALL_FUNCTIONS)  # fmt: skip
    model_create(owner=alice, team=team_alpha, name="fraud", source_name="m.py",
                 source=ALL_FUNCTIONS)  # fmt: skip
    context, page = _page(browser, live_server, javascript)
    page.goto(f"{live_server.url}/jobs/new/model/")
    choices = page.locator(".choices .choice")
    expect(choices).to_have_count(3)
    expect(page.locator(".choices")).to_contain_text("team beta")
    expect(page.get_by_text("same name as another")).to_have_count(2)
    search = page.get_by_label("Search models")
    search.fill("fraud")
    if not javascript:
        page.get_by_role("button", name="Search").click()
    expect(choices).to_have_count(1)
    expect(choices).to_contain_text("fraud")
    page.get_by_label(re.compile("fraud")).check()
    _continue(page, "snapshot")
    context.close()


def test_a_snapshot_attachment_is_chosen_as_the_input_and_tried(
    browser, live_server, celery_worker, alice, team_alpha
):
    from django.core.files.base import ContentFile

    rows = "".join(f"{i},{i % 2}\n" for i in range(150))
    model_create(owner=alice, team=team_alpha, name="credit", source_name="m.py",
                 source=ALL_FUNCTIONS,
                 attachments=[ContentFile(f"id,label\n{rows}".encode(), name="credit_test.csv")])  # fmt: skip
    context, page = _page(browser, live_server)
    _to_inputs(page, live_server, "credit", "Scoring")
    _continue(page, "inputs")
    page.get_by_label("Attachment", exact=True).select_option("credit_test.csv")
    page.get_by_role("button", name="Add input").click()
    expect(page.locator("table.table")).to_contain_text("credit_test.csv")
    _continue(page, "output")
    _continue(page, "review")
    page.get_by_role("button", name="Try on the first 100 records").click()
    expect(page.locator("#dry-run")).to_contain_text("100 of credit_test.csv", timeout=90_000)
    context.close()


def _at_inputs(browser, live_server, alice, team_alpha):
    demo_snapshot(owner=alice, team=team_alpha)
    context, page = _page(browser, live_server)
    _to_inputs(page, live_server, "iris", "Scoring")
    _continue(page, "inputs")
    return context, page


def test_a_chosen_file_uploads_at_once_with_progress_and_continue_disabled_meanwhile(
    browser, live_server, alice, team_alpha, tmp_path
):
    big = tmp_path / "big.jsonl"
    big.write_text('{"x": 1}\n' * 400_000)  # 3.6 MB: the upload has progress events
    context, page = _at_inputs(browser, live_server, alice, team_alpha)
    page.evaluate(
        """() => { window.seen = [];
        document.addEventListener('htmx:xhr:progress', () => window.seen.push({
          continueDisabled: document.querySelector('button[value=next]').disabled,
          barShown: !document.querySelector('.upload-progress').hidden,
          value: document.querySelector('.upload-progress').value })); }"""
    )
    page.get_by_label("Upload a file").set_input_files(str(big))  # no button pressed
    expect(page.locator("table.table")).to_contain_text("big.jsonl")
    seen = page.evaluate("window.seen")
    assert seen and all(s["continueDisabled"] and s["barShown"] for s in seen), seen
    assert max(s["value"] for s in seen) == 100
    expect(page.get_by_role("button", name="Continue")).to_be_enabled()
    context.close()


def test_a_file_over_the_limit_says_why(
    browser, live_server, alice, team_alpha, tmp_path, settings
):
    settings.UPLOAD_MAX_BYTES = 1000
    big = tmp_path / "big.jsonl"
    big.write_text('{"x": 1}\n' * 1000)
    context, page = _at_inputs(browser, live_server, alice, team_alpha)
    page.get_by_label("Upload a file").set_input_files(str(big))
    expect(page.locator("#wizard")).to_contain_text("UPLOAD_MAX_BYTES")
    context.close()


def test_an_upload_the_server_refuses_says_why_and_gives_the_buttons_back(
    browser, live_server, alice, team_alpha, tmp_path
):
    small = tmp_path / "small.jsonl"
    small.write_text('{"x": 1}\n')
    context, page = _at_inputs(browser, live_server, alice, team_alpha)
    # A proxy in front of the server that refuses large bodies answers 413 itself.
    page.route("**/jobs/new/inputs/", lambda route: route.fulfill(status=413, body="too large"))
    page.get_by_label("Upload a file").set_input_files(str(small))
    expect(page.locator(".upload-status")).to_have_text(
        "The upload failed: the file is larger than the server accepts."
    )
    expect(page.get_by_role("button", name="Continue")).to_be_enabled()
    context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-javascript"])
def test_an_inputs_preview_shows_types_and_its_schema_goes_to_a_new_snapshot(
    browser, live_server, alice, team_alpha, javascript
):
    model_create(owner=alice, team=team_alpha, name="credit", source_name="m.py",
                 source=ALL_FUNCTIONS)  # fmt: skip
    context, page = _page(browser, live_server, javascript)
    _to_inputs(page, live_server, "credit", "Scoring")
    _continue(page, "inputs")
    page.get_by_label("Paste the data").fill("id,age,city,label\n1,31,Oslo,1\n2,45,Bergen,0\n")
    page.get_by_role("button", name="Add input").click()
    page.get_by_role("link", name="Preview and schema").click()
    table = page.locator("table.input-preview")
    expect(table.locator("tr.input-types")).to_contain_text("long")
    expect(table.locator("tr.input-types")).to_contain_text("string")
    expect(table).to_contain_text("Bergen")
    schema = page.get_by_label(re.compile("Input schema"))
    expect(schema).to_contain_text('"role": "label"')
    expect(schema).to_contain_text('"dataClass": "categorical"')
    page.get_by_role("button", name="Attach to a new snapshot").click()
    page.wait_for_url("**/jobs/new/inputs/")
    expect(page.locator("#wizard")).to_contain_text("new snapshot, v2 of credit")
    page.get_by_role("link", name=re.compile("Schemas")).click()
    expect(page.get_by_role("combobox", name=re.compile("^Input schema"))).to_have_value(
        "pasted_data_schema.avsc"
    )
    context.close()
