from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from jobs.models import Upload
from processes.models import ProcessRun, RunStatus, RunStep, StepStatus
from processes.services import process_create_retrain

pytestmark = pytest.mark.django_db


@pytest.fixture
def process(alice, alice_snapshot):
    upload = Upload(owner=alice, name="data.csv", size=4)
    upload.file.save("data.csv", ContentFile(b"a,b\n"), save=True)
    return process_create_retrain(
        user=alice, name="Retrain echo",
        values={"model": str(alice_snapshot.model.uuid), "training_data": str(upload.uuid),
                "held_out_data": str(upload.uuid), "production_data": str(upload.uuid),
                "rules": ["auc >= 0.8"], "approval": True},
    )  # fmt: skip


def test_list_show_and_run_a_process(alice_api, process):
    listed = alice_api.get("/api/processes/").json()
    assert [p["name"] for p in listed["results"]] == ["Retrain echo"]
    shown = alice_api.get(f"/api/processes/{process.uuid}/").json()
    assert shown["steps"]["gate"]["rules"] == ["auc >= 0.8"]
    assert shown["triggers"][0]["kind"] == "manual"

    started = alice_api.post(f"/api/processes/{process.uuid}/runs/")

    assert started.status_code == 201
    run = ProcessRun.objects.get(uuid=started.json()["uuid"])
    assert (run.status, run.started_by.username) == (RunStatus.RUNNING, "alice")
    runs = alice_api.get(f"/api/processes/{process.uuid}/runs/").json()
    assert [r["uuid"] for r in runs["results"]] == [str(run.uuid)]
    assert alice_api.get(f"/api/process-runs/{run.uuid}/").json()["status"] == "RUNNING"


def test_approve_a_waiting_run_and_refuse_a_second_approval(alice_api, bob_api, process):
    run = ProcessRun.objects.create(
        process=process, trigger_kind="manual", status=RunStatus.WAITING_APPROVAL
    )
    RunStep.objects.create(
        run=run, bpmn_id="approve", name="Approval", kind="approval", status=StepStatus.WAITING
    )

    answer = bob_api.post(f"/api/process-runs/{run.uuid}/approve/")

    assert answer.status_code == 200, answer.json()
    assert answer.json()["status"] == "RUNNING"
    assert answer.json()["steps"][0]["approver"] == "bob"
    again = alice_api.post(f"/api/process-runs/{run.uuid}/approve/")
    assert again.status_code == 400
    assert "waits for no approval" in str(again.json())


def test_an_outsider_sees_no_process_and_cannot_run_one(charlie_api, process):
    assert charlie_api.get("/api/processes/").json()["results"] == []
    assert charlie_api.get(f"/api/processes/{process.uuid}/").status_code == 404
    assert charlie_api.post(f"/api/processes/{process.uuid}/runs/").status_code == 404
    assert not ProcessRun.objects.exists()


def test_retry_refuses_a_run_that_did_not_fail(alice_api, process):
    run = ProcessRun.objects.create(process=process, trigger_kind="manual")
    answer = alice_api.post(f"/api/process-runs/{run.uuid}/retry/")
    assert answer.status_code == 400
    assert "Only a failed run" in str(answer.json())
