"""Training jobs through the supervisor (job_execute called directly, real child process):
the new snapshot, its attachments, lineage and fingerprint; nothing on failure."""

from __future__ import annotations

import hashlib
import uuid

import orjson
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from jobs.models import Job, JobAsset, JobResult, JobStatus, JobType
from jobs.services import InputSpec, job_cancel, job_submit
from jobs.worker import supervisor
from jobs.worker.supervisor import job_execute
from models_registry.models import Snapshot
from models_registry.services import model_create

pytestmark = pytest.mark.django_db(transaction=True)

TRAINING_CSV = "x,label\n1,0\n2,0\n3,1\n4,1\n"
SCHEMA = (
    b'{"type": "record", "name": "t", "fields": '
    b'[{"name": "x", "type": "long"}, {"name": "label", "type": "long"}]}'
)

SOURCE = """\
# modelop.init
def begin():
    pass

# modelop.score
def action(datum):
    yield datum

# modelop.train
def train(df):
    with open("outputDir/model.pickle", "w") as f:
        f.write(f"trained on {len(df)} rows, mean x {df['x'].mean()}")
    with open("outputDir/threshold.txt", "w") as f:
        f.write("0.5")
"""


@pytest.fixture(autouse=True)
def executor_settings(in_process_executor):
    return in_process_executor


def parent_snapshot(*, owner, team, source: str = SOURCE) -> Snapshot:
    model = model_create(
        owner=owner,
        team=team,
        name=f"m-{uuid.uuid4().hex[:6]}",
        source_name="model.py",
        source=source,
        attachments=[
            ContentFile(b"old weights", name="model.pickle"),
            ContentFile(SCHEMA, name="input_schema.avsc"),
        ],
    )
    return model.latest_snapshot()


def train(user, snapshot, data: str = TRAINING_CSV, fmt: str = "csv", **options) -> Job:
    job = job_submit(
        user=user,
        snapshot=snapshot,
        job_type=JobType.TRAINING,
        inputs=[InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data, format=fmt)],
        **options,
    )
    job_execute(job_uuid=str(job.uuid))
    job.refresh_from_db()
    return job


def read(attachment) -> bytes:
    with attachment.file.open("rb") as f:
        return f.read()


def test_a_training_job_makes_a_new_snapshot_with_the_new_artifacts(alice, team_alpha):
    parent = parent_snapshot(owner=alice, team=team_alpha)

    job = train(alice, parent)

    assert job.status == JobStatus.COMPLETE, job.error_message
    child = job.result_snapshot
    assert child is not None
    assert (child.model, child.version, child.parent, child.training_job) == (
        parent.model,
        2,
        parent,
        job,
    )
    assert (child.source, child.source_name, child.smart_tags) == (
        parent.source,
        parent.source_name,
        parent.smart_tags,
    )
    attachments = {a.name: a for a in child.attachments.all()}
    assert sorted(attachments) == ["input_schema.avsc", "model.pickle", "threshold.txt"]
    assert read(attachments["model.pickle"]) == b"trained on 4 rows, mean x 2.5"
    assert (
        attachments["model.pickle"].sha256
        == hashlib.sha256(read(attachments["model.pickle"])).hexdigest()
    )
    assert read(attachments["input_schema.avsc"]) == SCHEMA
    assert read(attachments["threshold.txt"]) == b"0.5"
    # The parent is immutable: its own files are untouched.
    assert read(parent.attachments.get(name="model.pickle")) == b"old weights"
    assert child.training_data == {
        "size": len(TRAINING_CSV),
        "sha256": hashlib.sha256(TRAINING_CSV.encode()).hexdigest(),
        "rows": 4,
        "inputs": [job.input_assets()[0].name],
    }
    assert job.records_read == 4


def test_a_failed_training_makes_no_snapshot(alice, team_alpha):
    parent = parent_snapshot(
        owner=alice,
        team=team_alpha,
        source=SOURCE.replace('    with open("outputDir', '    1/0\n    with open("outputDir', 1),
    )

    job = train(alice, parent)

    assert job.status == JobStatus.ERROR
    assert job.error_message == "train function 'train' raised ZeroDivisionError: division by zero"
    assert job.result_snapshot is None
    assert list(parent.model.snapshots.values_list("version", flat=True)) == [1]


def test_a_training_that_writes_nothing_ends_in_error_with_no_snapshot(alice, team_alpha):
    source = "# modelop.train\ndef train(df):\n    print(len(df))\n"
    parent = parent_snapshot(owner=alice, team=team_alpha, source=source)

    job = train(alice, parent)

    assert job.status == JobStatus.ERROR
    assert job.error_message == "the train function 'train' wrote no artifacts into outputDir/"
    assert parent.model.snapshots.count() == 1


def test_a_job_cancelled_before_the_commit_makes_no_snapshot_and_leaves_no_files(
    alice, team_alpha, monkeypatch
):
    parent = parent_snapshot(owner=alice, team=team_alpha)
    real_commit = supervisor._commit_training

    def cancel_then_commit(job, *args, **kwargs):
        job_cancel(job=Job.objects.get(pk=job.pk), by=alice)
        return real_commit(job, *args, **kwargs)

    monkeypatch.setattr(supervisor, "_commit_training", cancel_then_commit)
    before = set(default_storage.listdir("snapshots")[0])

    job = train(alice, parent)

    assert job.status == JobStatus.CANCELLED
    assert job.result_snapshot is None
    assert parent.model.snapshots.count() == 1
    new_folders = set(default_storage.listdir("snapshots")[0]) - before
    assert [default_storage.listdir(f"snapshots/{f}")[1] for f in new_folders] == [[]]


def test_records_the_schema_check_left_out_go_to_the_rejects_file_and_the_snapshot_is_made(
    alice, team_alpha
):
    parent = parent_snapshot(owner=alice, team=team_alpha)

    job = train(
        alice,
        parent,
        "".join(
            orjson.dumps({"x": x, "label": label}).decode() + "\n"
            for x, label in [(1, 0), (2, 0), (3, 1), (4, 1), (5, "maybe")]
        ),
        fmt="jsonl",
        input_schema="input_schema.avsc",
        check_input_schema=True,
    )

    assert job.status == JobStatus.COMPLETE, job.error_message
    assert job.result == JobResult.FAILURE  # records were rejected
    assert (job.records_read, job.records_rejected) == (5, 1)
    with job.output_asset().rejects_file.open("rb") as f:
        rejects = [orjson.loads(line) for line in f]
    assert [r["data"]["label"] for r in rejects] == ["maybe"]
    model_pickle = job.result_snapshot.attachments.get(name="model.pickle")
    assert read(model_pickle) == b"trained on 4 rows, mean x 2.5"
    assert job.result_snapshot.training_data["rows"] == 5
