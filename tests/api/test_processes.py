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


def test_a_teammate_adds_changes_and_removes_a_trigger_through_the_api(bob_api, process):
    url = f"/api/processes/{process.uuid}/triggers/"
    added = bob_api.post(url, {"kind": "schedule", "cron": "0 6 * * 1"}, format="json")
    assert added.status_code == 201, added.json()
    body = added.json()
    assert (body["kind"], body["cron"], body["enabled"]) == ("schedule", "0 6 * * 1", True)
    listed = bob_api.get(url).json()
    assert sorted(t["kind"] for t in listed) == ["manual", "schedule"]

    detail = f"{url}{body['uuid']}/"
    changed = bob_api.patch(detail, {"cron": "30 2 * * *", "enabled": False}, format="json")
    assert changed.status_code == 200
    assert (changed.json()["cron"], changed.json()["enabled"]) == ("30 2 * * *", False)
    assert bob_api.get(detail).json()["cron"] == "30 2 * * *"

    assert bob_api.delete(detail).status_code == 204
    assert bob_api.get(detail).status_code == 404
    assert [t["kind"] for t in bob_api.get(url).json()] == ["manual"]


def test_the_api_refuses_a_bad_trigger_with_the_field_and_reason(alice_api, process, tmp_path):
    import sqlite3

    from jobs.models import Connection

    url = f"/api/processes/{process.uuid}/triggers/"
    bad_cron = alice_api.post(url, {"kind": "schedule", "cron": "daily"}, format="json")
    assert bad_cron.status_code == 400
    assert "is not a cron expression" in bad_cron.json()["cron"][0]

    sqlite3.connect(tmp_path / "w.db").close()
    Connection.objects.create(
        name="warehouse", kind=Connection.Kind.SQL, dsn=f"sqlite:///{tmp_path / 'w.db'}"
    )
    writes = alice_api.post(
        url, {"kind": "sql_changed", "connection": "warehouse", "query": "DROP TABLE t"},
        format="json",
    )  # fmt: skip
    assert writes.status_code == 400
    assert "not DROP" in writes.json()["query"][0]
    unknown = alice_api.post(
        url, {"kind": "sql_changed", "connection": "nope", "query": "SELECT 1"}, format="json"
    )
    assert unknown.status_code == 400
    assert unknown.json()["connection"] == ["No connection 'nope' you may use."]
    ok = alice_api.post(
        url, {"kind": "sql_changed", "connection": "warehouse", "query": "SELECT 1;"},
        format="json",
    )  # fmt: skip
    assert ok.status_code == 201
    assert (ok.json()["query"], ok.json()["connection"]) == ("SELECT 1", "warehouse")


def test_an_outsider_cannot_see_or_change_triggers_through_the_api(charlie_api, process):
    trigger = process.triggers.get()
    url = f"/api/processes/{process.uuid}/triggers/"
    assert charlie_api.get(url).status_code == 404
    assert charlie_api.post(url, {"kind": "manual"}, format="json").status_code == 404
    assert charlie_api.delete(f"{url}{trigger.uuid}/").status_code == 404
    assert process.triggers.count() == 1


def test_the_api_lists_the_steps_in_the_flows_order(alice_api, process):
    shown = alice_api.get(f"/api/processes/{process.uuid}/").json()
    order = ["train", "evaluate", "gate", "approve", "promote", "score"]
    assert shown["step_order"] == order
    assert list(shown["steps"]) == order
