"""`moc process list|show|run|runs` and `moc run show|approve|retry` through the real `moc`
against a live server (the runs are only started here; the worker runs them in the e2e tests)."""

from __future__ import annotations

import re

import pytest
from django.core.files.base import ContentFile

from jobs.models import Upload
from processes.models import ProcessRun, RunStatus, RunStep, StepStatus
from processes.services import process_create_retrain
from tests.cli.conftest import assert_error

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def process(alice, alice_snapshot, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    upload = Upload(owner=alice, name="data.csv", size=4)
    upload.file.save("data.csv", ContentFile(b"a,b\n"), save=True)
    return process_create_retrain(
        user=alice, name="Retrain echo",
        values={"model": str(alice_snapshot.model.uuid), "training_data": str(upload.uuid),
                "held_out_data": str(upload.uuid), "production_data": str(upload.uuid),
                "rules": ["auc >= 0.8"]},
    )  # fmt: skip


def test_list_show_run_and_runs(moc, process):
    listed = moc("process", "list")
    assert listed.returncode == 0, listed.stderr
    assert "Retrain echo" in listed.stdout and str(process.uuid) in listed.stdout
    shown = moc("process", "show", str(process.uuid))
    assert "auc >= 0.8" in shown.stdout and "training" in shown.stdout

    started = moc("process", "run", str(process.uuid))

    assert started.returncode == 0, started.stderr
    run = ProcessRun.objects.get()
    assert started.stdout.strip() == f"Run {run.uuid} started."
    runs = moc("process", "runs", str(process.uuid))
    # RUNNING, or FAILED once a real worker's loop (alive when an earlier test started it) has
    # advanced it: echo has no train function.
    assert str(run.uuid) in runs.stdout
    assert re.search(r"\b(RUNNING|FAILED)\b", runs.stdout), runs.stdout
    shown = moc("run", "show", str(run.uuid)).stdout
    assert re.search(r"Status: +(RUNNING|FAILED)\b", shown), shown


def test_run_approve_and_a_retry_refused(moc, process):
    run = ProcessRun.objects.create(
        process=process, trigger_kind="manual", status=RunStatus.WAITING_APPROVAL
    )
    RunStep.objects.create(
        run=run, bpmn_id="approve", name="Approval", kind="approval", status=StepStatus.WAITING
    )

    approved = moc("run", "approve", str(run.uuid))

    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.strip() == f"Run {run.uuid} approved; it goes on."
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert_error(moc("run", "retry", str(run.uuid)), 6, "Only a failed run")


def test_an_unknown_process_is_not_found(moc):
    assert_error(moc("process", "show", "00000000-0000-0000-0000-000000000000"), 3, "Process")
