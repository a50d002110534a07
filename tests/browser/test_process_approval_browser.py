"""A Retrain-and-promote run with an approval step waits after its gate; a teammate approves
it from their home page in headless Chromium, and the real worker's loop goes on to promote and
score. An outsider sees no approval."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from models_registry.models import Model
from processes.models import RunStatus, StepStatus, Trigger
from processes.services import process_create_retrain, run_start
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD
from tests.test_e2e_chain import upload_of
from tests.test_e2e_processes import wait_for_run

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_teammate_approves_a_run_on_their_home_page(
    celery_worker, browser, live_server, alice, bob, charlie, tmp_path, settings
):
    settings.DATA_DIR = tmp_path
    call_command("load_demo", owner="alice", team="alpha")
    model = Model.objects.get(name="Credit approval (demo)")
    train = upload_of(tmp_path / "demo" / "credit_train.csv", owner=alice)
    test = upload_of(tmp_path / "demo" / "credit_test.csv", owner=alice)
    process = process_create_retrain(
        user=alice, name="Retrain credit with approval",
        values={"model": str(model.uuid), "training_data": str(train.uuid),
                "held_out_data": str(test.uuid), "production_data": str(test.uuid),
                "rules": ["auc >= 0.6"], "approval": True},
    )  # fmt: skip
    run = run_start(process=process, trigger_kind=Trigger.Kind.MANUAL, user=alice)
    run = wait_for_run(run, statuses=(RunStatus.WAITING_APPROVAL,))
    assert run.steps.get(bpmn_id="approve").status == StepStatus.WAITING
    model.refresh_from_db()
    assert model.champion is None  # nothing is promoted before the approval

    outsider = browser.new_context().new_page()
    log_in(outsider, live_server, "charlie", PASSWORD)
    expect(outsider.get_by_role("heading", name="Waiting for your approval")).to_have_count(0)

    page = browser.new_context().new_page()
    log_in(page, live_server, "bob", PASSWORD)  # lands on the home page (the jobs list)
    expect(page.get_by_role("heading", name="Waiting for your approval")).to_be_visible()
    page.get_by_role("button", name=f"Approve {process.name}").click()
    expect(page.get_by_text("Approved; the run goes on.")).to_be_visible()

    run = wait_for_run(run)
    assert run.status == RunStatus.SUCCEEDED, run.reason
    assert run.steps.get(bpmn_id="approve").approver == bob
    model.refresh_from_db()
    assert model.champion == run.steps.get(bpmn_id="train").job.result_snapshot
    page.goto(f"{live_server.url}{run.get_absolute_url()}")
    expect(page.get_by_text("approved by bob")).to_be_visible()
