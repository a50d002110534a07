"""Supervision of a Spark job as of any job: cancel ends the application within seconds; a
worker killed mid-job ends its application and the reconciler runs the job again, whose
committed output holds every record exactly once."""

from __future__ import annotations

import time
import uuid

import psutil
import pytest

from jobs.models import Job, JobStatus
from jobs.services import job_cancel
from jobs.worker.sparkclasses import class_archive
from tests.conftest import wait_for_job
from tests.spark.conftest import spark_runtime_row
from tests.workers import output_ids, records, runworker_start, snapshot_of, submit, wait

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SLOW = """\
# moc.batch: true
import time

# modelop.score
def action(frame):
    time.sleep(0.5)
    yield frame
"""


def _processes_of(job: Job) -> list[psutil.Process]:
    """Processes whose command line names the job (its work dir): the JVM among them."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(job.uuid) in part for part in process.info["cmdline"] or []):
            found.append(process)
    return found


def _spark_running(job: Job) -> bool:
    job.refresh_from_db()
    return job.status == JobStatus.RUNNING and bool(job.engine_progress.get("tasks_total"))


def test_cancel_ends_the_spark_application_within_seconds(
    spark_runtime, s3_server, s3_bucket, alice, team_alpha, client
):
    from jobs.models import JobAsset
    from jobs.services import OutputSpec

    # Slow on the executors only: the 20 records the driver samples first go through at once.
    slow = SLOW.replace("time.sleep(0.5)", "time.sleep(60 if len(frame) > 100 else 0)")
    snapshot = snapshot_of(slow, owner=alice, team=team_alpha)
    s3 = s3_server.client()
    s3.put_object(Bucket=s3_bucket, Key="out/scores.jsonl", Body=b'{"id": "earlier"}\n')
    lake = s3_server.connection()
    lake.save()
    output = OutputSpec(kind=JobAsset.Kind.S3, connection=lake,
                        location=f"s3://{s3_bucket}/out/scores.jsonl")  # fmt: skip
    job = submit(alice, snapshot, spark_runtime, records(20_000), output=output)
    wait(lambda: _spark_running(job), timeout=300, what="the Spark job's first stage")
    assert job.engine_progress["ui_url"].startswith("http://")
    jvm = next(p for p in _processes_of(job) if "java" in (p.info["cmdline"] or [""])[0])
    # The sandboxed driver's JVM maps the classes the worker archived (the fixture made it).
    archive = class_archive(build=False)
    assert archive and any(m.path == archive for m in jvm.memory_maps())
    client.force_login(alice)
    page = client.get(job.get_absolute_url()).text
    assert "Spark UI" in page and f'href="{job.engine_progress["ui_url"]}"' in page
    assert "tasks " in page and f"of {job.engine_progress['tasks_total']}" in page

    assert job_cancel(job=job, by=alice)
    started = time.monotonic()

    wait(lambda: not _processes_of(job), timeout=15, what="the driver's processes to end")
    assert time.monotonic() - started < 15
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and not job.output_asset().file
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == ["out/scores.jsonl"]  # no part file, no temporary object beside it
    body = s3.get_object(Bucket=s3_bucket, Key="out/scores.jsonl")["Body"].read()
    assert body == b'{"id": "earlier"}\n'


def test_a_killed_worker_ends_its_application_and_the_job_runs_again(
    spark_queue, alice, team_alpha, tmp_path
):
    queue = f"{spark_queue}-kill-{uuid.uuid4().hex[:4]}"
    runtime = spark_runtime_row(queue)
    first = runworker_start(runtime=runtime, log_path=tmp_path / "first.log")
    snapshot = snapshot_of(SLOW, owner=alice, team=team_alpha)
    job = submit(alice, snapshot, runtime, records(20_000))  # 2 batches of 10,000 rows
    try:
        wait(lambda: _spark_running(job), timeout=300, what="the Spark job's first stage")
        first.kill()
        wait(lambda: not _processes_of(job), timeout=15, what="the application to end")
        second = runworker_start(runtime=runtime, log_path=tmp_path / "second.log")
        try:
            job = wait_for_job(job, timeout=300)
        finally:
            second.stop()
    finally:
        first.stop()
    assert job.status == JobStatus.COMPLETE, job.log[-3000:]
    assert job.attempts == 2
    assert sorted(output_ids(job)) == list(range(1, 20_001))
