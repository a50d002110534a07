"""The credit demo through a real Celery worker, as a new user would chain it from the wizard:
train v1 on the labeled sample → v2 → metrics on v2 → score with v2."""

from __future__ import annotations

import hashlib

import orjson
import pytest
from django.core.files.base import File
from django.core.management import call_command

from jobs.models import JobAsset, JobStatus, JobType, Upload
from jobs.runner.child import RUNNERS
from jobs.services import InputSpec, job_submit
from models_registry.models import Model
from tests.conftest import wait_for_job

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def upload_of(path, *, owner) -> Upload:
    upload = Upload(owner=owner, name=path.name, size=path.stat().st_size)
    with open(path, "rb") as f:
        upload.file.save(path.name, File(f), save=False)
    upload.save()
    return upload


def submit(user, snapshot, upload, job_type, **options):
    return job_submit(
        user=user,
        snapshot=snapshot,
        job_type=job_type,
        inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload)],
        **options,
    )


def sha256_of(snapshot, name: str) -> str:
    with snapshot.attachments.get(name=name).file.open("rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_train_then_measure_then_score_the_credit_demo(
    celery_worker, alice, team_alpha, tmp_path, settings
):
    settings.DATA_DIR = tmp_path  # where load_demo writes the labeled samples
    call_command("load_demo", owner="alice", team="alpha")
    v1 = Model.objects.get(name="Credit approval (demo)").latest_snapshot()
    train_csv, test_csv = (
        tmp_path / "demo" / "credit_train.csv",
        tmp_path / "demo" / "credit_test.csv",
    )
    training_data, test_data = upload_of(train_csv, owner=alice), upload_of(test_csv, owner=alice)

    training = wait_for_job(submit(alice, v1, training_data, JobType.TRAINING), timeout=120)

    assert training.status == JobStatus.COMPLETE, training.error_message + training.log
    v2 = training.result_snapshot
    assert (v2.version, v2.parent, v2.training_job) == (2, v1, training)
    assert v2.training_data["rows"] == 3000
    assert v2.training_data["size"] == train_csv.stat().st_size
    assert v2.training_data["sha256"] == hashlib.sha256(train_csv.read_bytes()).hexdigest()
    assert sha256_of(v2, "model.pickle") != sha256_of(v1, "model.pickle")
    assert sorted(a.name for a in v2.attachments.all()) == sorted(
        a.name for a in v1.attachments.all()
    )

    # The metrics step needs jobs.runner.metrics (another change); it is there when the
    # child has a metrics runner.
    if "metrics" in RUNNERS:
        measured = wait_for_job(submit(alice, v2, test_data, JobType.METRICS), timeout=120)
        assert measured.status == JobStatus.COMPLETE, measured.error_message + measured.log
        result = measured.metrics
        assert 0.7 < result["auc"] <= 1
        assert 0.5 < result["accuracy"] <= 1
        assert result["labels"] == [0, 1]
        assert sum(sum(row.values()) for row in result["confusion_matrix"]) == 1000
        assert {"fpr", "tpr"} == set(result["roc_curve"][0])

    scored = wait_for_job(
        submit(
            alice,
            v2,
            test_data,
            JobType.SCORING,
            input_schema="credit_input_schema.avsc",
            check_input_schema=True,
            output_schema="credit_output_schema.avsc",
            check_output_schema=True,
        ),
        timeout=120,
    )

    assert scored.status == JobStatus.COMPLETE, scored.error_message + scored.log
    assert (scored.records_read, scored.records_written, scored.records_rejected) == (1000, 1000, 0)
    with scored.output_asset().file.open("rb") as f:
        records = [orjson.loads(line) for line in f]
    assert [r["id"] for r in records] == list(range(3001, 4001))
    assert {r["prediction"] for r in records} == {0, 1}
    assert all(0 <= r["probability"] <= 1 for r in records)
