"""`moc job create ... --dry-run`: the real console script, a real Celery worker; no job."""

from __future__ import annotations

import json

import pytest

from jobs.models import Job
from models_registry.services import model_create
from tests.cli.test_cli_jobs import FAILING
from tests.demo import demo_snapshot

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_dry_run_prints_the_first_records_and_the_schema_verdict(
    celery_worker, moc, alice, team_alpha, iris_sample
):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    done = moc("job", "create", "batchjob", str(snapshot.uuid), str(iris_sample), "out.jsonl",
               "--input-schema", "input_schema.avsc", "--check-input", "--dry-run")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "no job is created" in done.stderr
    assert "Read 100, wrote 100, rejected 0 records" in done.stdout
    assert "Input schema input_schema.avsc: every record of the sample fits" in done.stdout
    assert not Job.objects.exists()

    as_json = moc("job", "create", "batchjob", str(snapshot.uuid), str(iris_sample), "o.jsonl",
                  "--dry-run", "--json")  # fmt: skip
    answer = json.loads(as_json.stdout)
    assert answer["status"] == "done" and len(answer["result"]["output"]["rows"]) == 100


def test_a_dry_run_whose_records_are_all_rejected_lists_the_reasons(
    celery_worker, moc, alice, team_alpha, iris_sample
):
    model = model_create(owner=alice, team=team_alpha, name="broken", source_name="broken.py",
                         source=FAILING)  # fmt: skip
    done = moc("job", "create", "batchjob", str(model.uuid), str(iris_sample), "out.jsonl",
               "--dry-run")  # fmt: skip
    assert done.returncode == 0, done.stderr  # the model ran; its records were rejected
    assert "Read 100, wrote 0, rejected 100 records" in done.stdout
    assert "rejected input record 1: " in done.stderr and "no score for id" in done.stderr
    assert not Job.objects.exists()


def test_a_dry_run_of_a_model_that_does_not_load_exits_1(celery_worker, moc, alice, team_alpha,
                                                        iris_sample):  # fmt: skip
    model = model_create(owner=alice, team=team_alpha, name="noload", source_name="noload.py",
                         source="import no_such_module\n# modelop.score\ndef f(d):\n    yield d\n")  # fmt: skip
    done = moc("job", "create", "batchjob", str(model.uuid), str(iris_sample), "out.jsonl",
               "--dry-run")  # fmt: skip
    assert done.returncode == 1 and "The model failed on the sample" in done.stderr
    assert "no_such_module" in done.stderr
