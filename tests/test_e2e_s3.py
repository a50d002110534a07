"""Jobs with S3 and HDFS inputs and outputs through a real Celery worker process, against
moto's S3 server and the WebHDFS test server (tests/servers.py). The worker reaches them on
loopback: the connections in the database hold their addresses.

The last test keeps uploads, attachments and outputs themselves in S3 (django-storages)."""

from __future__ import annotations

import subprocess
import sys
import uuid

import orjson
import psycopg
import pytest
from django.conf import settings
from psycopg import sql

from jobs.models import Connection, JobAsset, JobStatus, Runtime
from jobs.services import InputSpec, OutputSpec, job_submit
from jobs.worker.supervisor import job_execute
from models_registry import demo
from tests.conftest import wait_for_job
from tests.demo import demo_snapshot, sample_upload

SPECIES = {"setosa", "versicolor", "virginica"}


def _sample_lines(tmp_path) -> list[bytes]:
    return demo.write_sample_jsonl(tmp_path / "iris.jsonl").read_bytes().splitlines(keepends=True)


def _records(body: bytes) -> list[dict]:
    return [orjson.loads(line) for line in body.splitlines()]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_scoring_job_reads_an_s3_prefix_and_writes_json_lines_to_s3(
    celery_worker, s3_server, s3_bucket, alice, team_alpha, tmp_path
):
    client = s3_server.client()
    lines = _sample_lines(tmp_path)
    client.put_object(Bucket=s3_bucket, Key="iris/part-1.jsonl", Body=b"".join(lines[75:]))
    client.put_object(Bucket=s3_bucket, Key="iris/part-0.jsonl", Body=b"".join(lines[:75]))
    lake = s3_server.connection()
    lake.save()

    job = wait_for_job(
        job_submit(
            user=alice,
            snapshot=demo_snapshot(owner=alice, team=team_alpha),
            inputs=[
                InputSpec(
                    kind=JobAsset.Kind.S3, connection=lake, location=f"s3://{s3_bucket}/iris/"
                )
            ],
            output=OutputSpec(
                kind=JobAsset.Kind.S3,
                connection=lake,
                location=f"s3://{s3_bucket}/scores/iris.jsonl",
            ),
        )  # fmt: skip
    )

    assert job.status == JobStatus.COMPLETE, job.error_message
    body = client.get_object(Bucket=s3_bucket, Key="scores/iris.jsonl")["Body"].read()
    records = _records(body)
    assert [r["id"] for r in records] == list(range(1, 151))  # each once, in key order
    assert {r["predicted_species"] for r in records} <= SPECIES
    assert (job.records_read, job.records_written) == (150, 150)
    assert job.output_asset().published["location"] == f"s3://{s3_bucket}/scores/iris.jsonl"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_missing_s3_input_ends_the_job_in_error_and_writes_nothing(
    celery_worker, s3_server, s3_bucket, alice, team_alpha
):
    lake = s3_server.connection()
    lake.save()

    job = wait_for_job(
        job_submit(
            user=alice,
            snapshot=demo_snapshot(owner=alice, team=team_alpha),
            inputs=[
                InputSpec(
                    kind=JobAsset.Kind.S3, connection=lake, location=f"s3://{s3_bucket}/iris/"
                )
            ],
            output=OutputSpec(
                kind=JobAsset.Kind.S3,
                connection=lake,
                location=f"s3://{s3_bucket}/scores/iris.jsonl",
            ),
        )  # fmt: skip
    )

    assert job.status == JobStatus.ERROR
    assert job.error_message == (
        f"input 's3://{s3_bucket}/iris/': no objects under the prefix 'iris/' (nothing to read)"
    )
    assert s3_server.client().list_objects_v2(Bucket=s3_bucket)["KeyCount"] == 0


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_output_to_a_missing_bucket_ends_the_job_in_error(
    celery_worker, s3_server, alice, team_alpha, tmp_path
):
    lake = s3_server.connection()
    lake.save()

    job = wait_for_job(
        job_submit(
            user=alice,
            snapshot=demo_snapshot(owner=alice, team=team_alpha),
            inputs=[
                InputSpec(
                    kind=JobAsset.Kind.UPLOAD, upload=sample_upload(owner=alice, tmp_path=tmp_path)
                )
            ],
            output=OutputSpec(
                kind=JobAsset.Kind.S3, connection=lake, location="s3://no-such-bucket/scores.jsonl"
            ),
        )  # fmt: skip
    )

    assert job.status == JobStatus.ERROR
    assert job.error_message == (
        "output 's3://no-such-bucket/scores.jsonl': bucket 'no-such-bucket' does not exist"
    )
    assert not job.output_asset().published


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_scoring_job_reads_an_hdfs_folder_and_writes_csv_to_hdfs(
    celery_worker, webhdfs_server, alice, team_alpha, tmp_path
):
    lines = _sample_lines(tmp_path)
    folder = webhdfs_server.local("/data/iris")
    folder.mkdir(parents=True)
    (folder / "b.jsonl").write_bytes(b"".join(lines[100:]))
    (folder / "a.jsonl").write_bytes(b"".join(lines[:100]))
    hadoop = webhdfs_server.connection()
    hadoop.save()

    job = wait_for_job(
        job_submit(
            user=alice,
            snapshot=demo_snapshot(owner=alice, team=team_alpha),
            inputs=[
                InputSpec(
                    kind=JobAsset.Kind.HDFS, connection=hadoop, location="hdfs://namenode/data/iris"
                )
            ],
            output=OutputSpec(
                kind=JobAsset.Kind.HDFS,
                connection=hadoop,
                location="hdfs://namenode/scores/iris.csv",
            ),
        )  # fmt: skip
    )

    assert job.status == JobStatus.COMPLETE, job.error_message
    assert [p.name for p in webhdfs_server.local("/scores").iterdir()] == ["iris.csv"]
    rows = webhdfs_server.local("/scores/iris.csv").read_text().splitlines()
    assert len(rows) == 151  # a header and every record once
    assert "predicted_species" in rows[0]


@pytest.fixture
def scratch_postgres():
    """A PostgreSQL database of its own for one test (the data, not Django's), dropped after."""
    admin_dsn = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        admin = psycopg.connect(admin_dsn, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 as postgres ({exc})")
    name = f"cc_s3_e2e_{uuid.uuid4().hex[:10]}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_s3_to_postgresql_table_and_sql_to_s3(
    celery_worker, s3_server, s3_bucket, scratch_postgres, alice, team_alpha, tmp_path
):
    client = s3_server.client()
    lines = _sample_lines(tmp_path)
    client.put_object(Bucket=s3_bucket, Key="iris/part-0.jsonl", Body=b"".join(lines[:75]))
    client.put_object(Bucket=s3_bucket, Key="iris/part-1.jsonl", Body=b"".join(lines[75:]))
    lake = s3_server.connection()
    lake.save()
    warehouse = Connection.objects.create(
        name="warehouse", kind=Connection.Kind.SQL, dsn=scratch_postgres
    )
    snapshot = demo_snapshot(owner=alice, team=team_alpha)

    to_table = wait_for_job(
        job_submit(
            user=alice,
            snapshot=snapshot,
            inputs=[
                InputSpec(
                    kind=JobAsset.Kind.S3, connection=lake, location=f"s3://{s3_bucket}/iris/"
                )
            ],
            output=OutputSpec(kind=JobAsset.Kind.SQL, connection=warehouse, location="iris_scores"),
        )  # fmt: skip
    )
    assert to_table.status == JobStatus.COMPLETE, to_table.error_message
    with psycopg.connect(scratch_postgres) as db:
        table = db.execute("SELECT id, predicted_species FROM iris_scores ORDER BY id").fetchall()
    assert [row[0] for row in table] == list(range(1, 151))

    query = (
        "SELECT id, sepal_length, sepal_width, petal_length, petal_width "
        "FROM iris_scores ORDER BY id"
    )
    to_s3 = wait_for_job(
        job_submit(
            user=alice,
            snapshot=snapshot,
            inputs=[InputSpec(kind=JobAsset.Kind.SQL, connection=warehouse, query=query)],
            output=OutputSpec(
                kind=JobAsset.Kind.S3,
                connection=lake,
                location=f"s3://{s3_bucket}/rescored/iris.jsonl",
            ),
        )  # fmt: skip
    )
    assert to_s3.status == JobStatus.COMPLETE, to_s3.error_message
    body = client.get_object(Bucket=s3_bucket, Key="rescored/iris.jsonl")["Body"].read()
    rescored = [(r["id"], r["predicted_species"]) for r in _records(body)]
    assert rescored == [tuple(row) for row in table]  # every row once, scored the same


# --- Uploads, attachments and outputs kept in S3 (django-storages) ---------------------------


def test_storage_s3_settings_come_from_the_environment(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "DATA_DIR": str(tmp_path / "data"),
        "DJANGO_SETTINGS_MODULE": "commandcenter.settings",
        "STORAGE_S3_BUCKET": "uploads",
        "STORAGE_S3_ENDPOINT_URL": "http://minio:9000",
        "STORAGE_S3_REGION": "eu-west-1",
        "STORAGE_S3_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "STORAGE_S3_SECRET_ACCESS_KEY_FILE": str(secret_file),
    }
    script = "from django.conf import settings; import json; print(json.dumps(settings.STORAGES))"
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=settings.BASE_DIR,
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip

    default = orjson.loads(out)["default"]
    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    assert default["OPTIONS"] == {
        "bucket_name": "uploads",
        "endpoint_url": "http://minio:9000",
        "region_name": "eu-west-1",
        "access_key": "AKIAEXAMPLE",
        "secret_key": "from-a-file",
        "addressing_style": "path",
        "signature_version": "s3v4",
        "file_overwrite": False,
    }


@pytest.mark.django_db(transaction=True)
def test_a_job_runs_with_uploads_and_outputs_in_s3_storage(
    settings, s3_server, s3_bucket, alice, team_alpha, tmp_path, monkeypatch
):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": s3_bucket,
                "endpoint_url": s3_server.endpoint,
                "region_name": s3_server.region,
                "access_key": s3_server.access_key_id,
                "secret_key": s3_server.secret_access_key,
                "addressing_style": "path",
                "file_overwrite": False,
            },
        },
    }
    settings.JOB_WORK_DIR = tmp_path / "work"
    # The supervisor runs in this process (job_execute), so it sees the storage above.
    monkeypatch.setattr("jobs.services.placement.job_enqueue", lambda *, job_uuid, queue: True)
    Runtime.objects.get_or_create(name="default", defaults={"queue": "default", "is_default": True})
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    upload = sample_upload(owner=alice, tmp_path=tmp_path)

    job = job_submit(
        user=alice, snapshot=snapshot, inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload)]
    )
    job_execute(job_uuid=str(job.uuid))
    job.refresh_from_db()

    assert job.status == JobStatus.COMPLETE, job.error_message
    keys = {o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]}
    output = job.output_asset()
    assert {upload.file.name, output.file.name} <= keys
    assert output.file.name.startswith(f"jobs/{job.uuid}/")
    with output.file.open("rb") as f:
        assert [r["id"] for r in _records(f.read())] == list(range(1, 151))
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())
