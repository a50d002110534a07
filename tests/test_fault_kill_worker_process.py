"""An MLC process run survives its worker being SIGKILLed mid-run: another worker takes the
run over from the database, the killed worker's job is taken back by the reconciler, and no
step's job is created twice."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command

from jobs.models import Job, JobStatus
from models_registry.models import Model
from processes.models import RunStatus, Trigger
from processes.services import process_create_retrain, run_start
from tests.conftest import celery_worker_start, celery_worker_stop
from tests.test_e2e_chain import upload_of
from tests.test_e2e_processes import wait_for_run

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FAST = {
    "HEARTBEAT_SECONDS": "1",
    "WORKER_STALE_SECONDS": "3",
    "WORKER_OFFLINE_SECONDS": "5",
    "RECONCILE_SECONDS": "1",
    "PROCESSES_TICK_SECONDS": "0.5",
}


def test_a_run_goes_on_after_its_worker_is_killed_and_no_job_is_made_twice(
    alice, team_alpha, tmp_path, settings
):
    settings.DATA_DIR = tmp_path
    call_command("load_demo", owner="alice", team="alpha")
    model = Model.objects.get(name="Credit approval (demo)")
    train = upload_of(tmp_path / "demo" / "credit_train.csv", owner=alice)
    test = upload_of(tmp_path / "demo" / "credit_test.csv", owner=alice)
    process = process_create_retrain(
        user=alice, name="Retrain credit",
        values={"model": str(model.uuid), "training_data": str(train.uuid),
                "held_out_data": str(test.uuid), "production_data": str(test.uuid),
                "rules": ["auc >= 0.6"]},
    )  # fmt: skip
    first = celery_worker_start(
        queues="default", hostname="kill-first@%h", log_path=tmp_path / "first.log", env=FAST
    )
    second = None
    try:
        run = run_start(process=process, trigger_kind=Trigger.Kind.MANUAL, user=alice)
        deadline = time.monotonic() + 120
        while True:  # kill it once its second step's job is on the way
            step = run.steps.filter(bpmn_id="evaluate", job__isnull=False).first()
            if step is not None:
                break
            run.refresh_from_db()
            assert not run.is_terminal, run.reason
            assert time.monotonic() < deadline, "the run did not reach its metrics step"
            time.sleep(0.05)
        first.kill()
        first.wait(timeout=10)
        second = celery_worker_start(
            queues="default", hostname="kill-second@%h", log_path=tmp_path / "second.log",
            env=FAST,
        )  # fmt: skip

        run = wait_for_run(run, timeout=240)
    finally:
        if first.poll() is None:
            first.kill()
        if second is not None:
            celery_worker_stop(second)

    assert run.status == RunStatus.SUCCEEDED, run.reason
    jobs = Job.objects.filter(idempotency_key__startswith=f"process-run:{run.uuid}:")
    assert sorted(jobs.values_list("idempotency_key", flat=True)) == sorted(
        f"process-run:{run.uuid}:{s}" for s in ("train", "evaluate", "score")
    )
    assert Job.objects.count() == 3
    assert all(j.status == JobStatus.COMPLETE for j in jobs)
    model.refresh_from_db()
    assert model.champion == run.steps.get(bpmn_id="train").job.result_snapshot
