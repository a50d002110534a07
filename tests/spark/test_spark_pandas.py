"""The pandas contract on Spark: per-record and batch-mode models through a real worker."""

from __future__ import annotations

import orjson
import pytest

from jobs.models import JobStatus
from tests.conftest import wait_for_job
from tests.workers import snapshot_of, submit

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PER_RECORD = """\
# modelop.init
def begin():
    global factor
    factor = 3

# modelop.score
def action(record):
    if record["id"] == 7:
        raise ValueError("seven is bad")
    yield {"id": record["id"], "y": record["id"] * factor}
"""


def _lines(job) -> list[dict]:
    with job.output_asset().file.open("rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


def test_a_per_record_model_scores_json_lines_on_spark(spark_runtime, alice, team_alpha):
    # Splits of 200 bytes: the input is read as many partitions, and a reject's record number
    # still counts from the start of its file.
    spark_runtime.spark_conf = {**spark_runtime.spark_conf,
                                "spark.sql.files.maxPartitionBytes": "200"}  # fmt: skip
    spark_runtime.save()
    snapshot = snapshot_of(PER_RECORD, owner=alice, team=team_alpha)
    data = "".join(f'{{"id": {i}}}\n' for i in range(1, 51))

    job = wait_for_job(submit(alice, snapshot, spark_runtime, data), timeout=300)

    assert job.status == JobStatus.COMPLETE, job.log[-3000:]
    out = _lines(job)
    assert sorted(r["id"] for r in out) == [i for i in range(1, 51) if i != 7]
    assert all(r["y"] == 3 * r["id"] for r in out)
    assert job.records_rejected == 1 and job.result == "FAILURE"
    assert job.records_read == 50 and job.records_written == 49
    assert job.engine_progress["engine"] == "spark"
    assert job.engine_progress["tasks_done"] == job.engine_progress["tasks_total"] > 0
    with job.output_asset().rejects_file.open("rb") as f:
        (reject,) = [orjson.loads(line) for line in f]
    assert "seven is bad" in reject["reason"] and reject["data"] == {"id": 7}
    assert reject["record"] == 7 and reject["asset"] == job.input_assets()[0].name
    assert job.engine_progress["percent"] == 100


MOSTLY_BAD = """\
# moc.batch: true

# modelop.score
def action(frame):
    if len(frame) > 20:  # the 20-record sample that gives the output schema passes
        raise ValueError("too big")
    yield frame[["id"]]
"""


def test_more_rejects_than_a_task_sends_are_all_kept_in_order(spark_runtime, alice, team_alpha):
    # One batch, one partition, more rejects than REJECTS_PER_TASK (each record of a batch
    # whose score raised): the driver gathers them in a second pass, and rejects.jsonl still
    # has every one, by record number.
    from jobs.spark.executor import REJECTS_PER_TASK

    rows = REJECTS_PER_TASK + 600
    snapshot = snapshot_of(MOSTLY_BAD, owner=alice, team=team_alpha)
    data = "".join(f'{{"id": {i}}}\n' for i in range(1, rows + 1))

    job = wait_for_job(submit(alice, snapshot, spark_runtime, data), timeout=300)

    assert job.status == JobStatus.COMPLETE, job.log[-3000:]
    assert _lines(job) == []
    assert job.records_rejected == rows and job.records_written == 0
    assert "gathering them in a second pass" in job.log
    with job.output_asset().rejects_file.open("rb") as f:
        rejects = [orjson.loads(line) for line in f]
    assert [r["record"] for r in rejects] == list(range(1, rows + 1))
    assert [r["data"]["id"] for r in rejects] == list(range(1, rows + 1))
    assert all("too big" in r["reason"] for r in rejects)


BATCH = """\
# moc.batch: true
import pandas as pd

# modelop.score
def action(frame):
    out = pd.DataFrame({"id": frame["id"], "double": frame["x"] * 2.0})
    yield out
"""


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_batch_mode_model_scores_every_id_once(spark_runtime, alice, team_alpha, fmt):
    snapshot = snapshot_of(BATCH, owner=alice, team=team_alpha)
    ids = range(1, 301)
    if fmt == "csv":
        data = "id,x\n" + "".join(f"{i},{i / 10}\n" for i in ids)
    else:
        data = "".join(f'{{"id": {i}, "x": {i / 10}}}\n' for i in ids)
    job = submit_as(alice, snapshot, spark_runtime, data, fmt=fmt, out_format=fmt)

    job = wait_for_job(job, timeout=300)

    assert job.status == JobStatus.COMPLETE, job.log[-3000:]
    if fmt == "csv":
        import csv
        import io

        with job.output_asset().file.open("rb") as f:
            rows = list(csv.DictReader(io.StringIO(f.read().decode())))
        got = {int(r["id"]): float(r["double"]) for r in rows}
        assert len(rows) == 300
    else:
        out = _lines(job)
        got = {r["id"]: r["double"] for r in out}
        assert len(out) == 300
    assert got == {i: i / 10 * 2.0 for i in ids}
    assert job.result == "SUCCESS" and job.records_written == 300


def test_a_batch_mode_model_reads_and_writes_parquet(spark_runtime, alice, team_alpha, tmp_path):
    import io

    import pandas as pd
    from django.core.files.uploadedfile import SimpleUploadedFile

    from jobs.models import JobAsset
    from jobs.services import InputSpec, OutputSpec, job_submit, upload_create

    buffer = io.BytesIO()
    pd.DataFrame({"id": range(1, 201), "x": [i / 4 for i in range(1, 201)]}).to_parquet(buffer)
    upload = upload_create(owner=alice, content=SimpleUploadedFile("in.parquet", buffer.getvalue()))
    job = job_submit(
        user=alice, snapshot=snapshot_of(BATCH, owner=alice, team=team_alpha),
        inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload, format="parquet")],
        output=OutputSpec(name="out.parquet", format="parquet"), runtime=spark_runtime,
    )  # fmt: skip

    job = wait_for_job(job, timeout=300)

    assert job.status == JobStatus.COMPLETE, job.log[-3000:]
    with job.output_asset().file.open("rb") as f:
        out = pd.read_parquet(io.BytesIO(f.read()))
    assert sorted(out["id"]) == list(range(1, 201))
    assert dict(zip(out["id"], out["double"], strict=True)) == {
        i: i / 4 * 2.0 for i in range(1, 201)
    }


def submit_as(user, snapshot, runtime, data, *, fmt="jsonl", out_format="jsonl"):
    from jobs.models import JobAsset
    from jobs.services import InputSpec, OutputSpec, job_submit

    return job_submit(
        user=user, snapshot=snapshot, runtime=runtime,
        inputs=[InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data, format=fmt)],
        output=OutputSpec(name=f"out.{out_format}", format=out_format),
    )  # fmt: skip


FAILS_MIDWAY = """\
# moc.batch: true
import os

# modelop.score
def action(frame):
    if frame["id"].max() > 150:
        os._exit(3)  # a Python worker dies: its task, then the Spark job, fails
    yield frame
"""


def test_a_failure_mid_job_leaves_the_destination_as_it_was(
    spark_runtime, webhdfs_server, alice, team_alpha
):
    from jobs.models import JobAsset
    from jobs.services import InputSpec, OutputSpec, job_submit

    earlier = webhdfs_server.local("/scores/out.jsonl")
    earlier.parent.mkdir(parents=True)
    earlier.write_text('{"id": "from an earlier job"}\n')
    hadoop = webhdfs_server.connection()
    hadoop.save()
    data = "".join(f'{{"id": {i}}}\n' for i in range(1, 301))
    job = job_submit(
        user=alice, snapshot=snapshot_of(FAILS_MIDWAY, owner=alice, team=team_alpha),
        runtime=spark_runtime,
        inputs=[InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data, format="jsonl")],
        output=OutputSpec(kind=JobAsset.Kind.HDFS, connection=hadoop,
                          location="hdfs://namenode/scores/out.jsonl"),
    )  # fmt: skip

    job = wait_for_job(job, timeout=300)

    assert job.status == JobStatus.ERROR
    assert "Spark job failed" in job.error_message, job.error_message
    assert not job.output_asset().file
    assert earlier.read_text() == '{"id": "from an earlier job"}\n'
    assert sorted(p.name for p in earlier.parent.iterdir()) == ["out.jsonl"]
    assert not [r for r in webhdfs_server.requests if r[1] in ("CREATE", "RENAME", "DELETE")]


RECORDSETS = """\
# modelop.recordsets.0: true

# modelop.score
def action(frame):
    yield frame
"""

PANDAS_TRAIN = """\
# modelop.train
def train(frame):
    pass
"""


@pytest.mark.parametrize(
    ("source", "job_type", "words"),
    [(RECORDSETS, "scoring", "use batch mode"), (PANDAS_TRAIN, "training", "pandas training")],
)
def test_what_spark_cannot_run_is_refused_at_submit(
    spark_runtime, alice, team_alpha, source, job_type, words
):
    from django.core.exceptions import ValidationError

    snapshot = snapshot_of(source, owner=alice, team=team_alpha)
    with pytest.raises(ValidationError) as raised:
        submit(alice, snapshot, spark_runtime, '{"id": 1}\n', job_type=job_type)
    assert words in str(raised.value)


def test_an_s3_input_staged_by_the_worker_is_scored_on_spark_and_published_to_s3(
    spark_runtime, s3_server, s3_bucket, alice, team_alpha
):
    from jobs.models import JobAsset
    from jobs.services import InputSpec, OutputSpec, job_submit

    client = s3_server.client()
    lines = [f'{{"id": {i}, "x": {i}}}\n'.encode() for i in range(1, 101)]
    client.put_object(Bucket=s3_bucket, Key="in/part-0.jsonl", Body=b"".join(lines[:60]))
    client.put_object(Bucket=s3_bucket, Key="in/part-1.jsonl", Body=b"".join(lines[60:]))
    # An earlier job's output in the folder: replaced whole.
    client.put_object(Bucket=s3_bucket, Key="out/scores.jsonl/part-00000-old.json", Body=b"{}\n")
    lake = s3_server.connection()
    lake.save()
    job = job_submit(
        user=alice, snapshot=snapshot_of(BATCH, owner=alice, team=team_alpha),
        runtime=spark_runtime,
        inputs=[InputSpec(kind=JobAsset.Kind.S3, connection=lake, location=f"s3://{s3_bucket}/in/")],
        output=OutputSpec(kind=JobAsset.Kind.S3, connection=lake,
                          location=f"s3://{s3_bucket}/out/scores.jsonl"),
    )  # fmt: skip

    job = wait_for_job(job, timeout=300)

    assert job.status == JobStatus.COMPLETE, job.log[-3000:]
    assert "staged by the worker: this local master has no S3A connector" in job.log
    # A folder of Spark's part files with _SUCCESS, as a Spark job leaves it.
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket,
                                                     Prefix="out/")["Contents"]]  # fmt: skip
    assert "out/scores.jsonl/_SUCCESS" in keys
    assert not any("_moc-" in k or "old" in k for k in keys), keys
    parts = [k for k in keys if k.startswith("out/scores.jsonl/part-")]
    assert parts and all(k.endswith(".json") for k in parts)
    body = b"".join(client.get_object(Bucket=s3_bucket, Key=k)["Body"].read() for k in parts)
    out = [orjson.loads(line) for line in body.splitlines()]
    assert sorted(r["id"] for r in out) == list(range(1, 101))
    assert all(r["double"] == 2.0 * r["id"] for r in out)
    published = job.output_asset().published
    assert published["location"] == f"s3://{s3_bucket}/out/scores.jsonl/"
    assert published["parts"] == len(parts) and job.records_written == 100


def test_an_hdfs_folder_staged_by_the_worker_is_scored_on_spark_and_written_to_hdfs(
    spark_runtime, webhdfs_server, alice, team_alpha
):
    from jobs.models import JobAsset
    from jobs.services import InputSpec, OutputSpec, job_submit

    folder = webhdfs_server.local("/data/in")
    folder.mkdir(parents=True)
    lines = [f'{{"id": {i}, "x": {i}}}\n' for i in range(51, 81)]
    lines[2] = '{"id": 53, "x": \n'  # b.jsonl's third record cannot be decoded
    (folder / "b.jsonl").write_text("".join(lines))
    (folder / "a.jsonl").write_text("".join(f'{{"id": {i}, "x": {i}}}\n' for i in range(1, 51)))
    hadoop = webhdfs_server.connection()
    hadoop.save()
    job = job_submit(
        user=alice, snapshot=snapshot_of(BATCH, owner=alice, team=team_alpha),
        runtime=spark_runtime,
        inputs=[InputSpec(kind=JobAsset.Kind.HDFS, connection=hadoop,
                          location="hdfs://namenode/data/in")],
        output=OutputSpec(kind=JobAsset.Kind.HDFS, connection=hadoop,
                          location="hdfs://namenode/scores/out.csv"),
    )  # fmt: skip

    job = wait_for_job(job, timeout=300)

    assert job.status == JobStatus.COMPLETE, job.log[-3000:]
    assert "staged by the worker: a local master without the cluster's Hadoop" in job.log
    folder = webhdfs_server.local("/scores/out.csv")
    assert (folder / "_SUCCESS").is_file()
    parts = sorted(folder.glob("part-*.csv"))
    ids = []
    for part in parts:  # each part has its header, as Spark reads a folder of CSV parts
        if not (rows := part.read_text().splitlines()):
            continue  # an empty partition's file
        assert rows[0] == "id,double"
        ids.extend(int(r.split(",")[0]) for r in rows[1:])
    assert sorted(ids) == [i for i in range(1, 81) if i != 53]
    assert job.records_written == 79
    assert not list(webhdfs_server.local("/scores").glob(".*")), "a temporary folder was left"
    assert job.result == "FAILURE" and job.records_rejected == 1
    with job.output_asset().rejects_file.open("rb") as f:
        (reject,) = [orjson.loads(line) for line in f]
    assert (reject["asset"], reject["record"]) == ("hdfs://namenode/data/in/b.jsonl", 3)
