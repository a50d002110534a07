from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from jobs.models import Upload
from processes.models import Process, ProcessRun, RunStatus, Trigger
from processes.services import process_create_retrain, run_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def upload(alice, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    up = Upload(owner=alice, name="data.csv", size=4)
    up.file.save("data.csv", ContentFile(b"a,b\n"), save=True)
    return up


@pytest.fixture
def process(alice, alice_snapshot, upload):
    return process_create_retrain(
        user=alice, name="Retrain echo",
        values={"model": str(alice_snapshot.model.uuid), "training_data": str(upload.uuid),
                "held_out_data": str(upload.uuid), "production_data": str(upload.uuid),
                "rules": ["auc >= 0.8"]},
    )  # fmt: skip


def test_the_process_page_draws_the_steps_and_the_triggers(alice_client, process):
    response = alice_client.get(reverse("processes-detail", args=[process.uuid]))
    text = response.content.decode()
    assert response.status_code == 200
    for name in ("Train a new version", "Gate", "Promote to champion", "auc &gt;= 0.8", "Manual"):
        assert name in text
    assert "Retrain echo" in alice_client.get(reverse("processes-list")).content.decode()


def test_run_now_starts_a_run_and_shows_its_page(alice_client, process):
    response = alice_client.post(reverse("processes-run-now", args=[process.uuid]))
    run = ProcessRun.objects.get(process=process)
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert (run.status, run.trigger_kind) == (RunStatus.RUNNING, Trigger.Kind.MANUAL)
    page = alice_client.get(run.get_absolute_url())
    assert page.status_code == 200 and 'hx-trigger="every 2s"' in page.content.decode()
    partial = alice_client.get(run.get_absolute_url(), headers={"HX-Request": "true"})
    assert partial.status_code == 200 and b"<html" not in partial.content


def test_the_process_pages_check_the_team(charlie_client, process):
    run = run_start(process=process, trigger_kind=Trigger.Kind.MANUAL)
    for url in (
        reverse("processes-detail", args=[process.uuid]),
        run.get_absolute_url(),
    ):
        assert charlie_client.get(url).status_code == 404
    assert charlie_client.post(reverse("processes-run-now", args=[process.uuid])).status_code == 404
    assert charlie_client.post(reverse("processes-run-approve", args=[run.uuid])).status_code == 404
    assert "Retrain echo" not in charlie_client.get(reverse("processes-list")).content.decode()
    assert ProcessRun.objects.count() == 1


def test_the_pages_need_a_login(client, process):
    response = client.get(reverse("processes-detail", args=[process.uuid]))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_form_refuses_a_gate_rule_it_cannot_read(alice_client, alice_snapshot, upload):
    data = {"model": str(alice_snapshot.model.uuid), "training_data": str(upload.uuid),
            "held_out_data": str(upload.uuid), "production_data": str(upload.uuid),
            "rules": "auc is good"}  # fmt: skip
    response = alice_client.post(reverse("processes-create"), data)
    assert response.status_code == 200
    assert "is not understood" in response.content.decode()
    assert not Process.objects.exists()


def test_the_form_makes_a_process_with_an_approval_step(alice_client, alice_snapshot, upload):
    data = {"model": str(alice_snapshot.model.uuid), "training_data": str(upload.uuid),
            "held_out_data": str(upload.uuid), "production_data": str(upload.uuid),
            "rules": "auc >= 0.8\n", "approval": "on"}  # fmt: skip
    response = alice_client.post(reverse("processes-create"), data)
    process = Process.objects.get()
    assert response.status_code == 302 and response["Location"] == process.get_absolute_url()
    assert set(process.settings["steps"]) == {
        "train",
        "evaluate",
        "gate",
        "approve",
        "promote",
        "score",
    }  # fmt: skip  (PostgreSQL's jsonb keeps no key order; the BPMN holds the flow's)


def test_the_unused_upload_sweep_keeps_the_files_a_process_reads(process, upload, settings):
    from datetime import timedelta

    from django.utils import timezone

    from jobs.services import upload_sweep

    Upload.objects.filter(pk=upload.pk).update(created_at=timezone.now() - timedelta(days=30))
    assert upload_sweep()["uploads"] == 0
    assert Upload.objects.filter(pk=upload.pk).exists()
    process.delete()
    assert upload_sweep()["uploads"] == 1


def test_a_process_may_not_read_someone_elses_upload(alice, charlie, alice_snapshot, upload):
    from django.core.exceptions import ValidationError

    theirs = Upload(owner=charlie, name="theirs.csv", size=4)
    theirs.file.save("theirs.csv", ContentFile(b"a,b\n"), save=True)
    with pytest.raises(ValidationError, match="uploaded files of yours"):
        process_create_retrain(
            user=alice, name="x",
            values={"model": str(alice_snapshot.model.uuid), "training_data": str(theirs.uuid),
                    "held_out_data": str(upload.uuid), "production_data": str(upload.uuid),
                    "rules": ["auc >= 0.8"]},
        )  # fmt: skip
    assert not Process.objects.exists()


def test_the_admin_pages_of_processes_and_runs_open(client, staff, process):
    client.force_login(staff)
    run = run_start(process=process, trigger_kind=Trigger.Kind.MANUAL)
    for url in (
        reverse("admin:processes_process_changelist"),
        reverse("admin:processes_process_change", args=[process.pk]),
        reverse("admin:processes_processrun_changelist"),
        reverse("admin:processes_processrun_change", args=[run.pk]),
    ):
        assert client.get(url).status_code == 200, url


def test_the_form_makes_a_scheduled_scoring_process(alice_client, alice_snapshot, upload):
    url = reverse("processes-create") + "?template=scheduled_scoring"
    assert "Scheduled scoring" in alice_client.get(url).content.decode()
    data = {"model": str(alice_snapshot.model.uuid), "data": str(upload.uuid), "cron": "nope"}
    refused = alice_client.post(url, data)
    assert refused.status_code == 200 and "is not a cron expression" in refused.content.decode()
    created = alice_client.post(url, {**data, "cron": "0 2 * * *"})
    process = Process.objects.get()
    assert created.status_code == 302 and process.template == "scheduled_scoring"
    assert process.triggers.get(kind=Trigger.Kind.SCHEDULE).cron == "0 2 * * *"


def test_the_form_makes_a_champion_challenger_process(alice_client, alice_snapshot, upload):
    url = reverse("processes-create") + "?template=champion_challenger"
    data = {"model": str(alice_snapshot.model.uuid), "data": str(upload.uuid),
            "keys": "auc, f1_score", "margin": "0.01"}  # fmt: skip
    assert alice_client.post(url, data).status_code == 302
    assert Process.objects.get().settings["steps"]["compare"]["compare"] == ["auc", "f1_score"]
    assert alice_client.get(reverse("processes-create") + "?template=nope").status_code == 200


def test_import_a_bpmn_file_with_a_dmn_table(alice_client, alice_snapshot, upload):
    import json
    from pathlib import Path

    from django.core.files.uploadedfile import SimpleUploadedFile

    files = Path(__file__).parent / "files"
    steps = {
        "train": {"kind": "job", "job_type": "training", "inputs": [{"upload": str(upload.uuid)}]},
        "evaluate": {"kind": "job", "job_type": "metrics", "snapshot": "step:train",
                     "inputs": [{"upload": str(upload.uuid)}]},
        "gate": {"kind": "gate", "decision": True, "job_step": "evaluate"},
        "promote": {"kind": "promote", "snapshot": "step:train"},
    }  # fmt: skip
    data = {
        "model": str(alice_snapshot.model.uuid), "steps": json.dumps(steps),
        "bpmn": SimpleUploadedFile("p.bpmn", (files / "retrain_dmn.bpmn").read_bytes()),
        "dmn": SimpleUploadedFile("g.dmn", (files / "gate.dmn").read_bytes()),
    }  # fmt: skip
    response = alice_client.post(reverse("processes-import"), data)
    process = Process.objects.get()
    assert response.status_code == 302, response.content.decode()[:2000]
    page = alice_client.get(process.get_absolute_url()).content.decode()
    assert "Metrics gate (DMN)" in page and "Promote" in page


def test_import_refuses_a_file_that_is_not_bpmn(alice_client, alice_snapshot):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {"model": str(alice_snapshot.model.uuid), "steps": "{}",
            "bpmn": SimpleUploadedFile("p.bpmn", b"<not-xml")}  # fmt: skip
    response = alice_client.post(reverse("processes-import"), data)
    assert response.status_code == 200
    assert "The BPMN file cannot be read" in response.content.decode()
    assert not Process.objects.exists()


def test_the_process_page_draws_the_steps_in_the_flows_order(alice_client, process):
    # Not the settings' key order: PostgreSQL's jsonb keeps none (it sorts keys by length).
    page = alice_client.get(reverse("processes-detail", args=[process.uuid])).content.decode()
    names = ["Train a new version", "Measure it on held-out data", "Gate", "Promote to champion",
             "Score production data with the champion"]  # fmt: skip
    at = [page.index(f"<strong>{name}</strong>") for name in names]
    assert at == sorted(at)


def test_a_teammate_adds_changes_and_removes_a_trigger_on_the_page(client, bob, process):
    client.force_login(bob)  # not the owner: a member of the model's team
    page = client.get(reverse("processes-detail", args=[process.uuid])).content.decode()
    assert "Add a trigger" in page and 'action="' + reverse(
        "processes-trigger-add", args=[process.uuid]
    ) in page  # fmt: skip

    added = client.post(
        reverse("processes-trigger-add", args=[process.uuid]),
        {"kind": "schedule", "cron": " 0 6 * * 1 ", "enabled": "on"},
    )
    trigger = process.triggers.get(kind=Trigger.Kind.SCHEDULE)
    assert added.status_code == 302 and added["Location"] == process.get_absolute_url()
    assert (trigger.cron, trigger.enabled) == ("0 6 * * 1", True)

    edit = reverse("processes-trigger-edit", args=[process.uuid, trigger.uuid])
    assert "0 6 * * 1" in client.get(edit).content.decode()
    changed = client.post(edit, {"kind": "schedule", "cron": "30 2 * * *"})  # enabled: off
    trigger.refresh_from_db()
    assert changed.status_code == 302
    assert (trigger.cron, trigger.enabled, trigger.next_run_at) == ("30 2 * * *", False, None)

    removed = client.post(reverse("processes-trigger-delete", args=[process.uuid, trigger.uuid]))
    assert removed.status_code == 302
    assert not process.triggers.filter(kind=Trigger.Kind.SCHEDULE).exists()
    from audit.models import AuditEvent

    assert {e.action for e in AuditEvent.objects.filter(action__startswith="process.trigger")} == {
        "process.trigger_added", "process.trigger_changed", "process.trigger_removed"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "schedule", "cron": "every monday"}, "is not a cron expression"),
        ({"kind": "s3_objects", "location": "s3://bucket/labeled/"}, "Choose the S3 connection"),
        ({"kind": "hdfs_files", "location": "hdfs://nn/x"}, "Choose the HDFS connection"),
        ({"kind": "sql_changed", "query": "SELECT 1"}, "Choose the SQL connection"),
    ],
)
def test_the_trigger_form_says_what_is_wrong(alice_client, process, data, message):
    response = alice_client.post(reverse("processes-trigger-add", args=[process.uuid]), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert list(process.triggers.values_list("kind", flat=True)) == ["manual"]


def test_the_trigger_form_refuses_a_sql_query_that_writes(alice_client, process, tmp_path):
    import sqlite3

    from jobs.models import Connection

    sqlite3.connect(tmp_path / "w.db").close()
    connection = Connection.objects.create(
        name="warehouse", kind=Connection.Kind.SQL, dsn=f"sqlite:///{tmp_path / 'w.db'}"
    )
    response = alice_client.post(
        reverse("processes-trigger-add", args=[process.uuid]),
        {"kind": "sql_changed", "connection": connection.pk, "query": "UPDATE t SET a = 1"},
    )
    assert response.status_code == 400
    assert "an input is one SELECT statement (or WITH … SELECT), not UPDATE" in (
        response.content.decode()
    )


def test_an_outsider_cannot_see_or_change_the_triggers(charlie_client, process):
    trigger = process.triggers.get()
    for url in (
        reverse("processes-trigger-add", args=[process.uuid]),
        reverse("processes-trigger-edit", args=[process.uuid, trigger.uuid]),
        reverse("processes-trigger-delete", args=[process.uuid, trigger.uuid]),
    ):
        assert (
            charlie_client.post(url, {"kind": "schedule", "cron": "* * * * *"}).status_code == 404
        )
    assert list(process.triggers.values_list("kind", flat=True)) == ["manual"]


def test_approve_and_retry_of_a_run_that_is_not_waiting_or_failed_say_why(alice_client, process):
    run = run_start(process=process, trigger_kind=Trigger.Kind.MANUAL)  # RUNNING
    for name in ("processes-run-approve", "processes-run-retry"):
        response = alice_client.post(reverse(name, args=[run.uuid]), follow=True)
        assert response.redirect_chain[0] == (run.get_absolute_url(), 302)
        shown = [str(m) for m in response.context["messages"]]
        assert len(shown) == 1 and "goes on" not in shown[0] and "starts again" not in shown[0]
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
