"""MLC processes through a real Celery worker on the credit demo: the workers' own loop runs
Retrain-and-promote end to end, and a gate that fails stops the run with the rule and value."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from django.core.management import call_command

from jobs.models import Job, JobStatus, JobType
from models_registry.models import Model, Promotion
from processes.models import ProcessRun, RunStatus, StepStatus, Trigger
from processes.services import process_create_bpmn, process_create_retrain, run_retry, run_start
from tests.test_e2e_chain import upload_of

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def wait_for_run(run, *, timeout: float = 240, statuses=None) -> ProcessRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in statuses if statuses else run.is_terminal:
            return run
        time.sleep(0.2)
    steps = [(s.bpmn_id, s.status, s.reason) for s in run.steps.all()]
    raise AssertionError(f"the run stayed {run.status} for {timeout}s; steps: {steps}")


@pytest.fixture
def credit(alice, team_alpha, tmp_path, settings):
    settings.DATA_DIR = tmp_path
    call_command("load_demo", owner="alice", team="alpha")
    model = Model.objects.get(name="Credit approval (demo)")
    demo = tmp_path / "demo"
    train = upload_of(demo / "credit_train.csv", owner=alice)
    test = upload_of(demo / "credit_test.csv", owner=alice)
    return model, train, test


def _process(alice, credit, rules):
    model, train, test = credit
    return process_create_retrain(
        user=alice, name="Retrain credit",
        values={"model": str(model.uuid), "training_data": str(train.uuid),
                "held_out_data": str(test.uuid), "production_data": str(test.uuid),
                "rules": rules},
    )  # fmt: skip


def test_retrain_and_promote_makes_the_new_version_champion_and_scores_with_it(
    celery_worker, alice, credit
):
    model, _, _ = credit
    v1 = model.latest_snapshot()
    process = _process(alice, credit, ["auc >= 0.6", "accuracy between 0.5 and 1"])

    run = wait_for_run(run_start(process=process, trigger_kind=Trigger.Kind.MANUAL, user=alice))

    assert run.status == RunStatus.SUCCEEDED, run.reason
    steps = {s.bpmn_id: s for s in run.steps.all()}
    assert list(steps) == ["train", "evaluate", "gate", "promote", "score"]
    assert all(s.status == StepStatus.DONE for s in steps.values())
    v2 = steps["train"].job.result_snapshot
    assert (v2.version, v2.parent) == (2, v1)
    assert steps["evaluate"].job.snapshot == v2
    assert steps["evaluate"].job.job_type == JobType.METRICS
    verdict = steps["gate"].verdict
    assert verdict["passed"] is True
    assert verdict["rules"][0]["values"] == [steps["evaluate"].job.metrics["auc"]]
    model.refresh_from_db()
    assert model.champion == v2
    promotion = Promotion.objects.get(model=model)
    assert (promotion.snapshot, promotion.source, promotion.process_run) == (
        v2,
        "process",
        run.uuid,
    )
    scored = steps["score"].job
    assert (scored.job_type, scored.snapshot, scored.status) == ("scoring", v2, JobStatus.COMPLETE)
    with scored.output_asset().file.open("rb") as f:
        assert len([orjson.loads(line) for line in f]) == 1000
    # Each step made one job: 3 jobs, each with the run's idempotency key.
    jobs = Job.objects.filter(idempotency_key__startswith=f"process-run:{run.uuid}:")
    assert jobs.count() == 3


def test_a_failing_gate_keeps_the_champion_and_names_the_rule_and_value(
    celery_worker, alice, credit
):
    model, _, _ = credit
    process = _process(alice, credit, ["accuracy >= 0.1", "auc >= 0.999"])

    run = wait_for_run(run_start(process=process, trigger_kind=Trigger.Kind.MANUAL, user=alice))

    assert run.status == RunStatus.FAILED
    assert run.failed_step == "gate"
    auc = run.steps.get(bpmn_id="evaluate").job.metrics["auc"]
    assert f"rule 'auc >= 0.999' failed: auc = {auc:.4g}" in run.reason
    gate = run.steps.get(bpmn_id="gate")
    assert gate.status == StepStatus.FAILED
    assert [r["passed"] for r in gate.verdict["rules"]] == [True, False]
    assert not run.steps.filter(bpmn_id__in=["promote", "score"]).exists()
    model.refresh_from_db()
    assert model.champion is None
    assert not Promotion.objects.filter(model=model).exists()
    assert Job.objects.filter(job_type=JobType.SCORING).count() == 0

    # The rule is loosened, and the run is retried from its gate: the metrics job is not run
    # again, the gate reads it anew and the run goes on to promote and score.
    process.settings["steps"]["gate"]["rules"] = ["auc >= 0.6"]
    process.save()
    run = wait_for_run(run_retry(run=run, user=alice))
    assert run.status == RunStatus.SUCCEEDED, run.reason
    gate = run.steps.get(bpmn_id="gate")
    assert (gate.status, gate.attempt, gate.verdict["passed"]) == (StepStatus.DONE, 2, True)
    assert Job.objects.filter(job_type=JobType.TRAINING).count() == 1
    assert Job.objects.filter(job_type=JobType.METRICS).count() == 1
    model.refresh_from_db()
    assert model.champion == run.steps.get(bpmn_id="train").job.result_snapshot


FILES = Path(__file__).parent / "processes" / "files"


@pytest.mark.parametrize(
    ("auc_min", "passes"), [("0.6", True), ("0.999", False)], ids=["passes", "fails"]
)
def test_an_imported_bpmn_file_with_a_dmn_gate(celery_worker, alice, credit, auc_min, passes):
    model, train, test = credit
    dmn = (FILES / "gate.dmn").read_text().replace("&lt; AUC_MIN", f"&lt; {auc_min}")
    process = process_create_bpmn(
        user=alice, name="Imported", model=model,
        xml=(FILES / "retrain_dmn.bpmn").read_text(), dmn=dmn,
        steps={
            "train": {"kind": "job", "job_type": "training", "snapshot": "model",
                      "inputs": [{"upload": str(train.uuid)}]},
            "evaluate": {"kind": "job", "job_type": "metrics", "snapshot": "step:train",
                         "inputs": [{"upload": str(test.uuid)}]},
            "gate": {"kind": "gate", "decision": True, "job_step": "evaluate"},
            "promote": {"kind": "promote", "snapshot": "step:train"},
        },
    )  # fmt: skip

    run = wait_for_run(run_start(process=process, trigger_kind=Trigger.Kind.MANUAL, user=alice))

    assert run.steps.filter(bpmn_id="gate").exists(), (run.status, run.reason)
    gate = run.steps.get(bpmn_id="gate")
    auc = run.steps.get(bpmn_id="evaluate").job.metrics["auc"]
    assert {"rule": "auc (read by the decision table)", "key": "auc", "values": [auc],
            "passed": passes} in gate.verdict["rules"]  # fmt: skip
    model.refresh_from_db()
    if passes:
        assert run.status == RunStatus.SUCCEEDED, run.reason
        assert gate.verdict["decision"] == {"passed": True, "reason": "all checks passed"}
        assert model.champion == run.steps.get(bpmn_id="train").job.result_snapshot
    else:
        assert (run.status, run.failed_step) == (RunStatus.FAILED, "gate")
        assert run.reason == "Gate: the decision table said no: AUC below the minimum"
        assert model.champion is None


@pytest.mark.parametrize(("margin", "promoted"), [(0, True), (0.05, False)], ids=["as-good", "not"])
def test_champion_challenger_on_a_new_snapshot(celery_worker, alice, credit, margin, promoted):
    from models_registry.services import snapshot_add_version, snapshot_promote
    from processes.models import Template
    from processes.services import process_create_from_template

    model, _, test = credit
    v1 = model.latest_snapshot()
    snapshot_promote(snapshot=v1, user=alice, source="page")
    process = process_create_from_template(
        user=alice, name="C/C", template=Template.CHAMPION_CHALLENGER,
        values={"model": str(model.uuid), "data": str(test.uuid), "keys": ["auc", "accuracy"],
                "margin": margin},
    )  # fmt: skip
    trigger = process.triggers.get(kind=Trigger.Kind.SNAPSHOT)
    deadline = time.monotonic() + 30
    while "snapshot" not in trigger.state:  # the worker's first poll notes the snapshots there are
        assert time.monotonic() < deadline, "the worker did not poll the trigger"
        time.sleep(0.2)
        trigger.refresh_from_db()
    v2 = snapshot_add_version(  # the same code and pickle: as good as the champion, no better
        model=model, created_by=alice, source_name=v1.source_name, source=v1.source
    )
    deadline = time.monotonic() + 30
    while not ProcessRun.objects.filter(process=process).exists():
        assert time.monotonic() < deadline, "the new snapshot started no run"
        time.sleep(0.2)

    run = wait_for_run(ProcessRun.objects.get(process=process))

    assert run.trigger_data == {"snapshot": str(v2.uuid)}
    steps = {s.bpmn_id: s for s in run.steps.all()}
    assert (steps["challenger"].job.snapshot, steps["champion"].job.snapshot) == (v2, v1)
    model.refresh_from_db()
    if promoted:
        assert run.status == RunStatus.SUCCEEDED, run.reason
        assert model.champion == v2
    else:
        auc = steps["challenger"].job.metrics["auc"]
        assert run.status == RunStatus.FAILED
        assert run.reason == (
            f"Compare: the challenger's auc ({auc:.4g}) is not at least the champion's "
            f"({auc:.4g}) + 0.05"
        )
        assert model.champion == v1


def test_a_new_hdfs_file_is_scored_by_the_run_it_starts(
    celery_worker, alice, credit, webhdfs_server
):
    """New data in an HDFS folder → the worker's loop starts a run → its job
    reads that very file through WebHDFS (the test server on loopback)."""
    from django.conf import settings

    from jobs.models import JobAsset
    from processes import bpmn

    model, _, _ = credit
    connection = webhdfs_server.connection()
    connection.save()
    process = process_create_bpmn(
        user=alice, name="Score new HDFS data", model=model,
        xml=bpmn.linear_bpmn(process_id="score_new", name="Score new data",
                             steps=[("score", "Score the new file", "serviceTask")]),
        steps={"score": {"kind": "job", "job_type": "scoring", "snapshot": "champion",
                         "inputs": [{"trigger": "location"}]}},
    )  # fmt: skip
    local = webhdfs_server.local("/landing/credit-2026-02.csv")
    local.parent.mkdir(parents=True)
    local.write_bytes((Path(settings.DATA_DIR) / "demo" / "credit_test.csv").read_bytes())
    Trigger.objects.create(
        process=process, kind=Trigger.Kind.HDFS_FILES, connection=connection,
        location="hdfs://nn/landing",
    )  # fmt: skip

    deadline = time.monotonic() + 60
    while not ProcessRun.objects.filter(process=process).exists():
        assert time.monotonic() < deadline, "the worker's loop started no run for the new file"
        time.sleep(0.2)
    run = wait_for_run(ProcessRun.objects.get(process=process))

    assert run.status == RunStatus.SUCCEEDED, run.reason
    assert run.trigger_data["location"] == "hdfs://nn/landing/credit-2026-02.csv"
    job = run.steps.get(bpmn_id="score").job
    [asset] = job.assets.filter(direction=JobAsset.Direction.INPUT)
    assert (asset.kind, asset.location) == ("hdfs", "hdfs://nn/landing/credit-2026-02.csv")
    assert job.records_read > 0 and job.records_written == job.records_read
