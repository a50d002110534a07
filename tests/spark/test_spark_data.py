"""Data a Spark job reads itself (jobs/worker/sparkdata.py): a PostgreSQL query through JDBC,
and what Spark says, in words, when it cannot read a location: pyspark ships neither the S3A
connector nor a Hadoop client that speaks WebHDFS. The staged fallback of a local master is
in test_spark_pandas.py (its S3 and HDFS tests)."""

from __future__ import annotations

import os

import orjson
import psycopg
import pytest

from jobs.models import Connection, JobAsset, JobStatus
from jobs.services import InputSpec, OutputSpec, job_submit
from jobs.worker.sparkdata import DEBIAN_POSTGRES_JAR
from tests.conftest import wait_for_job
from tests.jobs.test_assets_sql import PASSWORD, postgres_dsn  # noqa: F401 - a fixture
from tests.spark.test_spark_pandas import BATCH
from tests.workers import snapshot_of

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _direct(runtime):
    """The runtime with spark.moc.staging never: Spark reads every input itself."""
    runtime.spark_conf = {**runtime.spark_conf, "spark.moc.staging": "never"}
    runtime.save()
    return runtime


@pytest.fixture
def warehouse(postgres_dsn):  # noqa: F811
    if not os.path.isfile(DEBIAN_POSTGRES_JAR):
        pytest.skip("the PostgreSQL JDBC driver is not installed (libpostgresql-jdbc-java)")
    conn = psycopg.connect(postgres_dsn, autocommit=True)
    conn.execute("CREATE TABLE points (id bigint PRIMARY KEY, x double precision)")
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO points VALUES (%s, %s)", [(i, i / 8) for i in range(1, 251)])
    yield Connection.objects.create(
        name="warehouse", kind=Connection.Kind.SQL, dsn=postgres_dsn, statement_timeout_seconds=30
    )
    conn.execute("DROP SCHEMA public CASCADE")
    conn.execute("CREATE SCHEMA public")
    conn.close()


def test_a_sql_input_is_read_by_spark_through_jdbc(spark_runtime, warehouse, alice, team_alpha):
    job = job_submit(
        user=alice, snapshot=snapshot_of(BATCH, owner=alice, team=team_alpha),
        runtime=spark_runtime,
        inputs=[InputSpec(kind=JobAsset.Kind.SQL, connection=warehouse,
                          query="SELECT id, x FROM points WHERE id <= 200")],
        output=OutputSpec(name="out.jsonl", format="jsonl"),
    )  # fmt: skip

    job = wait_for_job(job, timeout=300)

    assert job.status == JobStatus.COMPLETE, job.log[-3000:]
    assert "read by Spark through JDBC from postgresql://postgres:***@127.0.0.1" in job.log
    assert PASSWORD not in job.log
    with job.output_asset().file.open("rb") as f:
        out = [orjson.loads(line) for line in f]
    assert {r["id"]: r["double"] for r in out} == {i: i / 4 for i in range(1, 201)}


def test_spark_says_why_it_cannot_read_s3a_or_webhdfs_itself(
    spark_runtime, s3_server, s3_bucket, webhdfs_server, alice, team_alpha
):
    client = s3_server.client()
    client.put_object(Bucket=s3_bucket, Key="in/a.jsonl", Body=b'{"id": 1, "x": 1}\n')
    lake = s3_server.connection()
    lake.save()
    folder = webhdfs_server.local("/data/in")
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text('{"id": 2, "x": 2}\n')
    hadoop = webhdfs_server.connection()
    hadoop.save()
    job = job_submit(
        user=alice, snapshot=snapshot_of(BATCH, owner=alice, team=team_alpha),
        runtime=_direct(spark_runtime),
        inputs=[
            InputSpec(kind=JobAsset.Kind.S3, connection=lake, location=f"s3://{s3_bucket}/in/"),
            InputSpec(kind=JobAsset.Kind.HDFS, connection=hadoop,
                      location="hdfs://namenode/data/in"),
        ],
    )  # fmt: skip

    job = wait_for_job(job, timeout=300)

    assert job.status == JobStatus.ERROR
    # pyspark ships no S3A connector...
    assert "this Spark cluster has no S3A connector" in job.error_message
    assert "hadoop-aws" in job.error_message
    assert f"read by Spark from s3a://{s3_bucket}/in/" in job.log
    assert lake.secret_access_key not in job.log
    # ... and its shaded Hadoop client lacks what WebHDFS needs.
    assert "cannot speak WebHDFS" in job.error_message
    assert "RuntimeDelegateImpl" in job.error_message
    assert f"read by Spark from webhdfs://{webhdfs_server.url[7:]}/data/in" in job.log
