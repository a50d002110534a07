"""The supervisor: job_execute called directly, spawning the real child process.

job_submit's broker message is replaced by a no-op here, so no broker is needed; the path
through a real Celery worker, PostgreSQL and Redis is tested in tests/test_e2e_worker.py.
The tests are transactional because job_execute's thread and the child see committed data.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from pathlib import Path

import orjson
import psutil
import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connections

from jobs.models import Job, JobAsset, JobResult, JobStatus
from jobs.services import InputSpec, job_cancel, job_submit
from jobs.worker import supervisor
from jobs.worker.supervisor import job_execute
from models_registry import demo
from models_registry.services import model_create
from tests.demo import demo_snapshot, sample_upload

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def executor_settings(in_process_executor):
    return in_process_executor


def snapshot_of(source: str, *, owner, team):
    model = model_create(
        owner=owner,
        team=team,
        name=f"m-{uuid.uuid4().hex[:6]}",
        source_name="model.py",
        source=source,
    )
    return model.latest_snapshot()


def embedded(*records) -> InputSpec:
    data = "".join(orjson.dumps(r).decode() + "\n" for r in records)
    return InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data)


def submit(user, snapshot, *inputs: InputSpec, **options) -> Job:
    return job_submit(user=user, snapshot=snapshot, inputs=list(inputs), **options)


def stored_files(job: Job) -> list[str]:
    folder = f"jobs/{job.uuid}"
    return default_storage.listdir(folder)[1] if default_storage.exists(folder) else []


def run_in_thread(job: Job) -> threading.Thread:
    def target():
        try:
            job_execute(job_uuid=str(job.uuid))
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def drop_file(name: str) -> Path:
    """A fresh file in the tests' drop box, the one folder beside its work dir that a test
    model may write (see the dropbox fixture)."""
    return Path(settings.MODEL_SANDBOX_READ_WRITE[0]) / f"{uuid.uuid4().hex}-{name}"


def wait_until(condition, *, timeout: float = 30.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.05)


SLOW_SOURCE = """\
import os, time

# modelop.init
def begin():  # written whole, then renamed: the file never shows empty
    with open({pid_file!r} + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename({pid_file!r} + ".tmp", {pid_file!r})

# modelop.score
def action(datum):
    print("scoring", datum["x"])
    time.sleep(0.05)
    yield datum
"""


def test_a_scoring_job_completes_with_its_output_committed(alice, team_alpha, tmp_path, settings):
    upload = sample_upload(owner=alice, tmp_path=tmp_path)
    job = submit(
        alice, demo_snapshot(owner=alice, team=team_alpha), InputSpec(kind="upload", upload=upload)
    )

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message
    assert job.result == JobResult.SUCCESS
    assert (job.records_read, job.records_written, job.records_rejected) == (150, 150, 0)
    assert job.bytes_read == upload.size
    assert job.peak_memory > 10 * 1024 * 1024  # a Python process with pandas and scikit-learn
    output = job.output_asset()
    assert output.file.name == f"jobs/{job.uuid}/output.jsonl"
    with output.file.open("rb") as f:
        records = [orjson.loads(line) for line in f]
    assert [r["id"] for r in records] == list(range(1, 151))
    assert output.size == output.file.size
    assert not output.rejects_file
    assert list(settings.JOB_WORK_DIR.iterdir()) == []  # the work dir is removed


def test_records_failing_the_schema_are_committed_as_a_rejects_file(alice, team_alpha):
    good, bad = list(demo.sample_rows(2))
    bad["sepal_width"] = "wide"
    job = submit(
        alice,
        demo_snapshot(owner=alice, team=team_alpha),
        embedded(good, bad),
        input_schema="input_schema.avsc",
        check_input_schema=True,
    )

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE
    assert job.result == JobResult.FAILURE
    assert (job.records_read, job.records_written, job.records_rejected) == (2, 1, 1)
    with job.output_asset().rejects_file.open("rb") as f:
        [reject] = [orjson.loads(line) for line in f]
    assert reject["record"] == 2
    assert reject["reason"] == "field 'sepal_width' is 'wide' (str), expected double"


PRINTS = """\
import sys

# modelop.init
def begin():
    print("model loaded", flush=True)
    sys.stderr.write("a warning of the model's\\n")

# modelop.score
def action(datum):
    print("scoring", datum["x"], flush=True)
    sys.stderr.write("a last line without its end")
    sys.stderr.flush()
    yield datum
"""


def test_what_the_model_prints_is_in_the_job_log_line_by_line_with_its_time(alice, team_alpha):
    """The worker reads the model's stdout and stderr and writes each line to the job log
    after the time it read it; the supervisor's own events keep their dated stamps, in order
    with the model's lines."""
    job = submit(alice, snapshot_of(PRINTS, owner=alice, team=team_alpha), embedded({"x": 7}))

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message + job.log
    lines = job.log.splitlines()
    stamped = re.compile(r"^\d\d:\d\d:\d\d\.\d{3}  (.*)$")
    printed = [m[1] for line in lines if (m := stamped.match(line))]
    assert printed[0].startswith("sandbox: on")  # the keeper's note, before the model's lines
    loaded = printed.index("model loaded")
    assert printed[loaded + 1] == "a warning of the model's"
    assert printed[-2:] == ["scoring 7", "a last line without its end"]  # kept, though unended
    started = next(i for i, line in enumerate(lines) if "starting the model" in line)
    loaded_at = next(i for i, line in enumerate(lines) if line.endswith("  model loaded"))
    assert lines[started].startswith("[") and started < loaded_at


def test_a_model_that_raises_with_stop_on_bad_records_ends_in_error_naming_the_record(
    alice, team_alpha
):
    source = "# modelop.score\ndef action(datum):\n    return 1 / datum['x']\n"
    job = submit(
        alice, snapshot_of(source, owner=alice, team=team_alpha), embedded({"x": 1}, {"x": 0}),
        stop_on_bad_records=True,
    )  # fmt: skip

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.ERROR
    assert job.error_message == (
        "stopped on the first bad record: input record 2 of 'embedded.jsonl': "
        "score function 'action' raised ZeroDivisionError: division by zero"
    )
    assert "Traceback (most recent call last)" in job.log
    assert "return 1 / datum['x']" in job.log


def test_output_is_not_committed_when_the_job_fails(alice, team_alpha):
    source = "# modelop.score\ndef action(datum):\n    yield datum\n    assert datum['x'] < 3\n"
    records = [{"x": i} for i in range(5)]
    job = submit(
        alice, snapshot_of(source, owner=alice, team=team_alpha), embedded(*records),
        stop_on_bad_records=True,
    )  # fmt: skip

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.ERROR
    assert "input record 4" in job.error_message
    assert not job.output_asset().file
    assert stored_files(job) == []


def test_a_duplicate_job_execute_for_the_same_job_does_nothing(alice, team_alpha):
    source = "# modelop.score\ndef action(datum):\n    yield datum\n"
    job = submit(alice, snapshot_of(source, owner=alice, team=team_alpha), embedded({"x": 1}))
    job_execute(job_uuid=str(job.uuid))
    job.refresh_from_db()
    first = (job.status, job.attempts, job.finished_at, job.output_asset().file.name)

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert (job.status, job.attempts, job.finished_at, job.output_asset().file.name) == first
    assert first[:2] == (JobStatus.COMPLETE, 1)
    assert stored_files(job) == ["output.jsonl"]


def test_a_job_that_does_not_exist_is_ignored(db):
    assert job_execute(job_uuid=str(uuid.uuid4())) is None


def test_cancelling_a_running_job_kills_its_child_within_two_seconds(alice, team_alpha, tmp_path):
    pid_file = drop_file("child.pid")
    snapshot = snapshot_of(SLOW_SOURCE.format(pid_file=str(pid_file)), owner=alice, team=team_alpha)
    job = submit(alice, snapshot, embedded(*({"x": i} for i in range(2000))))
    thread = run_in_thread(job)
    wait_until(pid_file.exists, message="the child to start")
    pid = int(pid_file.read_text())

    assert job_cancel(job=job, by=alice)
    cancelled_at = time.monotonic()
    thread.join(timeout=10)

    assert not thread.is_alive()
    assert time.monotonic() - cancelled_at < 2
    assert not psutil.pid_exists(pid)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert not job.output_asset().file
    assert stored_files(job) == []


def test_progress_and_the_log_are_saved_while_the_job_runs(alice, team_alpha, tmp_path):
    pid_file = drop_file("child.pid")
    snapshot = snapshot_of(SLOW_SOURCE.format(pid_file=str(pid_file)), owner=alice, team=team_alpha)
    job = submit(alice, snapshot, embedded(*({"x": i} for i in range(2000))))
    thread = run_in_thread(job)

    seen: list[Job] = []

    def progressed():
        seen.append(Job.objects.get(pk=job.pk))
        return seen[-1].records_read > 0

    wait_until(progressed, message="progress in the database")
    job_cancel(job=job, by=alice)
    thread.join(timeout=10)
    running = seen[-1]
    assert running.status == JobStatus.RUNNING
    assert 0 < running.bytes_read < running.bytes_total
    assert "scoring 0" in running.log
    assert running.peak_memory > 0


def test_the_child_gets_no_database_broker_or_secret_settings(alice, team_alpha, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://user:secret@db/prod")
    monkeypatch.setenv("BROKER_URL", "redis://broker:6379/0")
    monkeypatch.setenv("SECRET_KEY", "not-for-models")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-models-either")
    source = "import os\n# modelop.score\ndef action(datum):\n    yield dict(os.environ)\n"
    job = submit(alice, snapshot_of(source, owner=alice, team=team_alpha), embedded({"x": 1}))

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message
    with job.output_asset().file.open("rb") as f:
        environment = orjson.loads(f.read())
    assert not {"DATABASE_URL", "BROKER_URL", "SECRET_KEY", "AWS_SECRET_ACCESS_KEY"} & set(
        environment
    )
    assert "not-for-models" not in str(environment)
    assert environment["PYTHONPATH"]


def test_a_model_killed_from_outside_is_started_once_more_then_ends_in_error(alice, team_alpha):
    """SIGKILL, not for memory (no OOM kill, far from any limit): once, as for a lost worker,
    the job starts again; killed again, it ends in ERROR saying so."""
    source = "import os, signal\n# modelop.score\ndef action(datum):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    job = submit(alice, snapshot_of(source, owner=alice, team=team_alpha), embedded({"x": 1}))

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.WAITING, 1)
    assert "killed from outside (SIGKILL); starting again" in job.log
    assert "saw its model process killed from outside; starting again (attempt 2 of 3)" in job.log

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.ERROR, 2)
    assert job.error_message == (
        "the model process ended unexpectedly (killed by SIGKILL from outside, again)"
    )


def test_a_model_killed_near_its_memory_limit_is_not_started_again(alice, team_alpha, monkeypatch):
    source = "import os, signal\n# modelop.score\ndef action(datum):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    job = submit(alice, snapshot_of(source, owner=alice, team=team_alpha), embedded({"x": 1}))
    oom_kills = iter([5, 6])  # the kernel's OOM killer struck during the job
    monkeypatch.setattr(supervisor, "_oom_kills", lambda: next(oom_kills))

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.ERROR, 1)
    assert job.error_message.startswith("the model process ended unexpectedly (killed for memory")


def test_output_saved_for_a_job_cancelled_just_before_completion_is_deleted(
    alice, team_alpha, monkeypatch
):
    source = "# modelop.score\ndef action(datum):\n    yield datum\n"
    job = submit(alice, snapshot_of(source, owner=alice, team=team_alpha), embedded({"x": 1}))
    real_commit = supervisor._commit

    def cancel_then_commit(job, *args, **kwargs):
        # A person clicks Cancel after the child said "done", before the output is committed.
        job_cancel(job=Job.objects.get(pk=job.pk), by=alice)
        return real_commit(job, *args, **kwargs)

    monkeypatch.setattr(supervisor, "_commit", cancel_then_commit)

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert not job.output_asset().file
    assert stored_files(job) == []


def test_an_input_missing_from_storage_fails_the_job_naming_it(alice, team_alpha, tmp_path):
    upload = sample_upload(owner=alice, tmp_path=tmp_path)
    job = submit(
        alice, demo_snapshot(owner=alice, team=team_alpha), InputSpec(kind="upload", upload=upload)
    )
    os.remove(upload.file.path)

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.ERROR
    assert job.error_message == "input 'iris.jsonl': the uploaded file is missing from storage"


def test_an_upload_is_copied_when_storage_has_no_local_path(
    alice, team_alpha, tmp_path, monkeypatch
):
    monkeypatch.setattr("jobs.worker.workdir._local_path", lambda storage, name: None)
    upload = sample_upload(owner=alice, tmp_path=tmp_path, rows=20)
    job = submit(
        alice,
        demo_snapshot(owner=alice, team=team_alpha),
        InputSpec(kind="upload", upload=upload),
    )

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message
    assert job.records_written == 20
    assert upload.file.storage.exists(upload.file.name)  # the upload itself is left alone


def test_metrics_too_large_to_keep_with_the_job_are_trimmed_and_the_log_says_so(
    alice, team_alpha, settings
):
    settings.METRICS_MAX_BYTES = 64 * 1024
    source = """\
# modelop.metrics
def metrics(df):
    yield {"accuracy": 0.75, "per_row": list(range(100_000))}
"""
    snapshot = snapshot_of(source, owner=alice, team=team_alpha)
    job = submit(alice, snapshot, embedded({"x": 1}), job_type="metrics")

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message
    assert job.metrics["accuracy"] == 0.75 and "per_row" not in job.metrics
    assert list(job.metrics["metrics_omitted"]["bytes"]) == ["per_row"]
    assert "more than METRICS_MAX_BYTES (65,536): kept without per_row" in job.log
    (line,) = job.output_asset().file.open("rb").read().splitlines()
    assert len(orjson.loads(line)["per_row"]) == 100_000  # the output file has it all
