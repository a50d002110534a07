"""A dry run: dry_run_start's checks, and the worker's executor called directly with the real
sandboxed child process (the path through a Celery worker is in the browser and API tests).
Transactional, as the child and the executor see committed data."""

from __future__ import annotations

import uuid

import orjson
import pytest
from django.core.exceptions import ValidationError

from dryruns.models import DryRun
from dryruns.services import dry_run_start
from jobs.models import Job, JobAsset, Runtime
from jobs.services import InputSpec
from jobs.worker.dryrun import dry_run_execute
from models_registry.services import model_create
from tests.demo import demo_snapshot, sample_upload

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def executor_settings(in_process_executor):
    return in_process_executor


@pytest.fixture
def runtime():
    return Runtime.objects.get_or_create(name="dry", defaults={"queue": "dry"})[0]


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    sent = []
    monkeypatch.setattr(
        "dryruns.services.dry_run_enqueue", lambda *, dry_run, queue: sent.append(queue)
    )
    return sent


def snapshot_of(source: str, *, owner, team):
    model = model_create(
        owner=owner, team=team, name=f"m-{uuid.uuid4().hex[:6]}", source_name="model.py",
        source=source,
    )  # fmt: skip
    return model.latest_snapshot()


def embedded(records) -> InputSpec:
    data = "".join(orjson.dumps(r).decode() + "\n" for r in records)
    return InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data)


def run(dry_run: DryRun) -> DryRun:
    dry_run_execute(dry_run_uuid=str(dry_run.uuid))
    dry_run.refresh_from_db()
    return dry_run


def test_the_demo_model_scores_the_first_100_records_and_nothing_is_kept(
    alice, team_alpha, tmp_path, runtime, no_broker
):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    upload = sample_upload(owner=alice, tmp_path=tmp_path, rows=250)
    dry_run = dry_run_start(
        user=alice, snapshot=snapshot, runtime=runtime,
        inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload)],
        input_schema="input_schema.avsc", check_input_schema=True,
    )  # fmt: skip
    assert no_broker == ["dry"] and dry_run.status == DryRun.Status.WAITING
    dry_run = run(dry_run)
    assert dry_run.status == DryRun.Status.DONE, dry_run.result
    result = dry_run.result
    assert result["inputs"] == [{"name": "iris.jsonl", "records": 100}]
    assert result["counts"]["records_read"] == 100
    assert len(result["output"]["rows"]) == 100 and result["output"]["columns"]
    assert result["schema_checks"] == [
        {"side": "input", "schema": "input_schema.avsc", "ok": True,
         "text": "every record of the sample fits"},
    ]  # fmt: skip
    assert not Job.objects.exists()  # nothing in the jobs list


def test_a_score_function_that_raises_gives_the_error_and_the_rejects(alice, team_alpha, runtime):
    source = "# modelop.score\ndef action(d):\n    if d['x'] == 2:\n        raise ValueError('two')\n    yield d\n"
    snapshot = snapshot_of(source, owner=alice, team=team_alpha)
    dry_run = run(
        dry_run_start(
            user=alice,
            snapshot=snapshot,
            runtime=runtime,
            inputs=[embedded([{"x": 1}, {"x": 2}, {"x": 3}])],
        )  # fmt: skip
    )
    assert dry_run.status == DryRun.Status.DONE
    assert dry_run.result["rejects"][0]["record"] == 2
    assert "two" in dry_run.result["rejects"][0]["reason"]
    assert [row[0] for row in dry_run.result["output"]["rows"]] == ["1", "3"]


def test_a_model_that_does_not_load_ends_in_error_with_the_reason(alice, team_alpha, runtime):
    source = "import no_such_module\n# modelop.score\ndef action(d):\n    yield d\n"
    snapshot = snapshot_of(source, owner=alice, team=team_alpha)
    dry_run = run(dry_run_start(user=alice, snapshot=snapshot, runtime=runtime,
                                inputs=[embedded([{"x": 1}])]))  # fmt: skip
    assert dry_run.status == DryRun.Status.ERROR
    assert "no_such_module" in dry_run.result["error"]


def test_a_model_that_runs_too_long_is_stopped(alice, team_alpha, runtime, settings):
    settings.DRY_RUN_SECONDS = 2
    source = "import time\n# modelop.score\ndef action(d):\n    time.sleep(60)\n    yield d\n"
    snapshot = snapshot_of(source, owner=alice, team=team_alpha)
    dry_run = run(dry_run_start(user=alice, snapshot=snapshot, runtime=runtime,
                                inputs=[embedded([{"x": 1}])]))  # fmt: skip
    assert dry_run.status == DryRun.Status.ERROR
    assert "longer than 2 s" in dry_run.result["error"]


def test_a_csv_input_is_cut_to_its_first_records(alice, team_alpha, runtime, settings):
    settings.DRY_RUN_RECORDS = 3
    source = "# modelop.score\ndef action(d):\n    yield {'a': d['a']}\n"
    snapshot = snapshot_of(source, owner=alice, team=team_alpha)
    data = "a,b\n" + "".join(f"{i},x\n" for i in range(10))
    spec = InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data, format="csv")
    dry_run = run(dry_run_start(user=alice, snapshot=snapshot, runtime=runtime, inputs=[spec]))
    assert dry_run.result["inputs"][0]["records"] == 3
    assert len(dry_run.result["output"]["rows"]) == 3


def test_an_outsider_may_not_dry_run_a_model(alice, charlie, team_alpha, runtime):
    snapshot = snapshot_of(
        "# modelop.score\ndef f(d):\n    yield d\n", owner=alice, team=team_alpha
    )
    with pytest.raises(ValidationError, match="may not run"):
        dry_run_start(user=charlie, snapshot=snapshot, runtime=runtime, inputs=[embedded([{}])])
    assert not DryRun.objects.exists()


def test_an_s3_input_is_refused_with_the_reason(alice, team_alpha, runtime):
    snapshot = snapshot_of(
        "# modelop.score\ndef f(d):\n    yield d\n", owner=alice, team=team_alpha
    )
    spec = InputSpec(kind=JobAsset.Kind.S3, location="s3://b/k.jsonl")
    with pytest.raises(ValidationError, match="s3://b/k.jsonl"):
        dry_run_start(user=alice, snapshot=snapshot, runtime=runtime, inputs=[spec])
