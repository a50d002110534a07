"""A corpus of bad input, run against the three ways in: the pages, the REST API and the
executor. Every case must end in a clear message (which asset or record, and why), never a
500 or a stuck job, and must change nothing else: no rows beyond the refused request's own,
no file outside the job's own place, another job's output untouched.

The executor cases run the real supervisor and child process (job_execute, as a worker
would, without a broker); the page and API cases go through Django's test client.
"""

from __future__ import annotations

import io
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from jobs.executor.supervisor import job_execute
from jobs.models import Connection, Job, JobAsset, JobStatus, Runtime, Upload
from jobs.services import InputSpec, job_submit, upload_create
from models_registry.models import Attachment, Model, Snapshot
from models_registry.services import model_create

ECHO = "# modelop.score\ndef action(datum):\n    yield datum\n"
INPUT_SCHEMA = (
    b'{"type": "record", "name": "row", "fields": ['
    b'{"name": "id", "type": "int"}, {"name": "x", "type": "double"}]}'
)
NEIGHBOUR_OUTPUT = b'{"id": 1, "score": 0.5}\n'
SECRET = "pw-corpus-never-shown-4c1"


# --- The world before and after ---------------------------------------------------------------


@dataclass(frozen=True)
class World:
    rows: dict[str, int]
    media: frozenset[str]
    work: frozenset[str]


def _files(root: Path) -> frozenset[str]:
    if not root.exists():
        return frozenset()
    return frozenset(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def world(settings) -> World:
    rows = {
        m.__name__: m.objects.count()
        for m in (Model, Snapshot, Attachment, Job, JobAsset, Upload, Connection, User)
    }
    return World(rows, _files(Path(settings.MEDIA_ROOT)), _files(Path(settings.JOB_WORK_DIR)))


def changed_rows(before: World, after: World) -> dict[str, int]:
    return {
        k: after.rows[k] - before.rows[k] for k in before.rows if after.rows[k] != before.rows[k]
    }


@pytest.fixture
def places(settings, tmp_path, monkeypatch):
    settings.JOB_WORK_DIR = tmp_path / "work"
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr("jobs.services.job_enqueue", lambda *, job_uuid, queue: True)
    Runtime.objects.get_or_create(name="default", defaults={"queue": "default", "is_default": True})
    return settings


@pytest.fixture
def echo_snapshot(places, alice, team_alpha):
    model = model_create(
        owner=alice, team=team_alpha, name="echo", source_name="model.py", source=ECHO,
        attachments=[ContentFile(INPUT_SCHEMA, name="input_schema.avsc")],
    )  # fmt: skip
    return model.latest_snapshot()


@pytest.fixture
def neighbour(echo_snapshot, alice):
    """Another job that finished earlier, with its output in place."""
    job = job_submit(
        user=alice, snapshot=echo_snapshot,
        inputs=[InputSpec(kind=JobAsset.Kind.EMBEDDED, data='{"id": 1}\n')],
    )  # fmt: skip
    output = job.output_asset()
    output.file.save(f"jobs/{job.uuid}/output.jsonl", ContentFile(NEIGHBOUR_OUTPUT))
    Job.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETE)
    return job


def neighbour_intact(job: Job) -> bool:
    job.refresh_from_db()
    output = job.output_asset()
    with output.file.open("rb") as f:
        return job.status == JobStatus.COMPLETE and f.read() == NEIGHBOUR_OUTPUT


def assert_nothing_else_changed(before: World, after: World, *, job: Job | None) -> None:
    """Only the job's own rows and files (and the upload it reads) are new; nothing went."""
    own_rows = {"Upload": 1, "Job": 1, "JobAsset": 2} if job is not None else {}
    assert all(changed_rows(before, after).get(k, 0) == v for k, v in own_rows.items())
    assert set(changed_rows(before, after)) <= set(own_rows), changed_rows(before, after)
    assert before.media <= after.media, "a file was removed"
    mine = str(job.uuid) if job is not None else "\0"
    strays = [
        f for f in after.media - before.media if mine not in f and not f.startswith("uploads/")
    ]
    assert strays == [], strays
    assert [f for f in after.work - before.work if mine not in f] == []


# --- The executor --------------------------------------------------------------------------------


def _parquet(rows: int = 200) -> bytes:
    table = pa.table({"id": list(range(rows)), "x": [i / 3 for i in range(rows)]})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=50)
    return sink.getvalue()


def _giant_line(size: int = 50 * 1024 * 1024) -> bytes:
    return b'{"id": 1, "x": 0.5, "blob": "' + b"a" * size + b'"}\n'


# (file name, content, format, job options, the job's end status, texts its message must hold)
EXECUTOR_CASES = {
    "jsonl-broken-line": (
        "broken.jsonl",
        lambda: b'{"id": 1, "x": 1}\n{"id": 2, "x": \n',
        "",
        {},
        "ERROR",
        ["broken.jsonl", "line 2", "invalid JSON"],
    ),
    "jsonl-not-json-at-all": (
        "words.jsonl",
        lambda: b"hello world\n",
        "",
        {},
        "ERROR",
        ["words.jsonl", "line 1"],
    ),
    "json-array-unclosed": (
        "array.json",
        lambda: b'[{"id": 1, "x": 1},\n {"id": 2, "x": 2}',
        "",
        {},
        "ERROR",
        ["array.json", "line 2", "invalid JSON"],
    ),
    "csv-extra-field": (
        "broken.csv",
        lambda: b"id,x\n1,0.5\n2,0.7,9\n",
        "",
        {},
        "ERROR",
        ["broken.csv", "line 3", "Expected 2 fields, saw 3"],
    ),
    "csv-unclosed-quote": (
        "quote.csv",
        lambda: b'id,x\n1,"0.5\n2,0.7\n',
        "",
        {},
        "ERROR",
        ["quote.csv"],
    ),
    "parquet-garbage": (
        "garbage.parquet",
        lambda: b"PAR1 this is not parquet at all",
        "",
        {},
        "ERROR",
        ["garbage.parquet", "not a Parquet file"],
    ),
    "parquet-truncated": (
        "cut.parquet",
        lambda: _parquet()[: len(_parquet()) // 2],
        "",
        {},
        "ERROR",
        ["cut.parquet", "Parquet"],
    ),
    "parquet-named-csv": (
        "really-parquet.csv",
        _parquet,
        "",
        {},
        "ERROR",
        ["really-parquet.csv", "UTF-8"],
    ),
    "jsonl-utf16": (
        "utf16.jsonl",
        lambda: '{"id": 1, "x": 1}\n'.encode("utf-16"),
        "",
        {},
        "ERROR",
        ["utf16.jsonl", "UTF-16"],
    ),
    "csv-utf16": (
        "utf16.csv",
        lambda: "id,x\n1,0.5\n".encode("utf-16"),
        "",
        {},
        "ERROR",
        ["utf16.csv", "UTF-16"],
    ),
    "jsonl-latin1": (
        "latin1.jsonl",
        lambda: '{"id": 1, "name": "café"}\n'.encode("latin-1"),
        "",
        {},
        "ERROR",
        ["latin1.jsonl", "line 1", "UTF-8"],
    ),
    "csv-latin1": (
        "latin1.csv",
        lambda: "id,name\n1,café\n".encode("latin-1"),
        "",
        {},
        "ERROR",
        ["latin1.csv", "UTF-8"],
    ),
    "giant-line-of-garbage": (
        "giant.jsonl",
        lambda: b"x" * (50 * 1024 * 1024),
        "",
        {},
        "ERROR",
        ["giant.jsonl", "line 1"],
    ),
    "giant-line-valid": ("giant-ok.jsonl", _giant_line, "", {}, "COMPLETE", []),
    "empty-file": ("empty.jsonl", lambda: b"", "", {}, "COMPLETE", []),
    "only-blank-lines": ("blank.jsonl", lambda: b"\n\n  \n", "", {}, "COMPLETE", []),
    "csv-header-only": ("header.csv", lambda: b"id,x\n", "", {}, "COMPLETE", []),
    "schema-breaking-records": (
        "typed.jsonl",
        lambda: b'{"id": 1, "x": 0.5}\n{"id": "two", "x": 0.5}\n{"id": 3}\n',
        "",
        {"input_schema": "input_schema.avsc", "check_input_schema": True},
        "COMPLETE",
        [],
    ),
    "format-says-parquet-file-is-csv": (
        "data.csv",
        lambda: b"id,x\n1,2\n",
        "parquet",
        {},
        "ERROR",
        ["data.csv", "Parquet"],
    ),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", list(EXECUTOR_CASES))
def test_executor_bad_input(case, places, alice, echo_snapshot, neighbour, alice_client):
    name, content, fmt, options, status, texts = EXECUTOR_CASES[case]
    before = world(places)
    upload = upload_create(owner=alice, content=ContentFile(content(), name=name))
    job = job_submit(
        user=alice, snapshot=echo_snapshot,
        inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload, format=fmt)], **options,
    )  # fmt: skip

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == status, job.error_message or job.log[-2000:]
    for text in texts:
        assert text in job.error_message, job.error_message
    if status == "ERROR":
        assert not job.output_asset().file  # nothing half-written is published
    assert neighbour_intact(neighbour)
    assert_nothing_else_changed(before, world(places), job=job)
    assert alice_client.get(job.get_absolute_url()).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_schema_breaking_records_are_counted_with_their_reasons(places, alice, echo_snapshot):
    upload = upload_create(
        owner=alice,
        content=ContentFile(
            b'{"id": 1, "x": 0.5}\n{"id": "two", "x": 0.5}\n{"id": 3}\n', name="t.jsonl"
        ),
    )
    job = job_submit(
        user=alice, snapshot=echo_snapshot, input_schema="input_schema.avsc",
        check_input_schema=True, inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload)],
    )  # fmt: skip
    job_execute(job_uuid=str(job.uuid))
    job.refresh_from_db()

    assert (job.records_written, job.records_rejected, job.result) == (1, 2, "FAILURE")
    rejects = [a for a in job.assets.all() if a.rejects_file]
    text = rejects[0].rejects_file.open("rb").read().decode()
    assert "id" in text and "x" in text


# --- SQL that writes, and places that cannot be reached ---------------------------------------


@pytest.fixture
def warehouse(places, tmp_path):
    """A SQLite database with one table, and a connection to it."""
    path = tmp_path / "warehouse.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER, x REAL)")
        db.executemany("INSERT INTO customers VALUES (?, ?)", [(1, 0.5), (2, 0.7)])
    connection = Connection.objects.create(name="warehouse", kind="sql", dsn=f"sqlite:///{path}")
    connection.rows = lambda: sqlite3.connect(path).execute("SELECT * FROM customers").fetchall()
    return connection


WRITING_SQL = {
    "sql-delete": ("DELETE FROM customers", "not DELETE"),
    "sql-insert": ("INSERT INTO customers VALUES (3, 1.0)", "not INSERT"),
    "sql-drop": ("DROP TABLE customers", "not DROP"),
    "sql-update-in-cte": (
        "WITH gone AS (DELETE FROM customers RETURNING *) SELECT * FROM gone",
        "DELETE in the statement would write",
    ),
    "sql-select-into": ("SELECT * INTO copy FROM customers", "INTO in the statement"),
    "sql-two-statements": ("SELECT * FROM customers; DROP TABLE customers", "2 statements"),
    "sql-empty": ("  ;  ", "empty"),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", list(WRITING_SQL))
def test_sql_that_writes_is_refused_before_anything_runs(
    case, warehouse, alice, echo_snapshot, neighbour, settings
):
    query, expected = WRITING_SQL[case]
    before = world(settings)

    with pytest.raises(ValidationError) as refused:
        job_submit(
            user=alice, snapshot=echo_snapshot,
            inputs=[InputSpec(kind=JobAsset.Kind.SQL, connection=warehouse, query=query)],
        )  # fmt: skip

    assert expected in " ".join(refused.value.messages)
    assert warehouse.rows() == [(1, 0.5), (2, 0.7)]
    assert neighbour_intact(neighbour)
    assert_nothing_else_changed(before, world(settings), job=None)


UNREACHABLE = {
    "s3-endpoint-down": (
        {"kind": "s3", "endpoint_url": "http://127.0.0.1:9", "access_key_id": "AKIAX",
         "secret_access_key": SECRET},
        "s3://bucket/data.jsonl",
        ["s3://bucket/data.jsonl", "cannot reach", "127.0.0.1:9"],
    ),
    "hdfs-host-down": (
        {"kind": "hdfs", "webhdfs_url": "http://127.0.0.1:9", "hdfs_user": "etl"},
        "hdfs://namenode/data/in.jsonl",
        ["/data/in.jsonl", "127.0.0.1:9"],
    ),
    "sql-server-down": (
        {"kind": "sql", "dsn": f"postgresql://reporter:{SECRET}@127.0.0.1:9/warehouse"},
        "SELECT 1",
        ["127.0.0.1"],
    ),
    "sql-sqlite-file-missing": (
        {"kind": "sql", "dsn": "sqlite:///nowhere/at/all.db"},
        "SELECT 1",
        ["all.db"],
    ),
    "sql-dsn-nonsense": (
        {"kind": "sql", "dsn": f"mysql://root:{SECRET}@db/x"},
        "SELECT 1",
        ["no usable DSN"],
    ),
}  # fmt: skip


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", list(UNREACHABLE))
def test_an_unreachable_location_ends_the_job_in_error_saying_where(
    case, places, alice, echo_snapshot, neighbour, alice_client
):
    fields, where, texts = UNREACHABLE[case]
    connection = Connection.objects.create(name=f"c-{case}", **fields)
    before = world(places)
    spec = (
        InputSpec(kind="sql", connection=connection, query=where)
        if fields["kind"] == "sql"
        else InputSpec(kind=fields["kind"], connection=connection, location=where)
    )
    try:
        job = job_submit(user=alice, snapshot=echo_snapshot, inputs=[spec])
    except ValidationError as exc:  # refused at once: as good, if it says why
        message, job = " ".join(exc.messages), None
    else:
        job_execute(job_uuid=str(job.uuid))
        job.refresh_from_db()
        assert job.status == JobStatus.ERROR, job.log[-2000:]
        message = job.error_message
        assert alice_client.get(job.get_absolute_url()).status_code == 200

    for text in texts:
        assert text in message, message
    assert SECRET not in message
    assert neighbour_intact(neighbour)
    after = world(places)
    if job is None:
        assert_nothing_else_changed(before, after, job=None)
    else:  # no upload here: the job and its two assets only
        assert changed_rows(before, after) == {"Job": 1, "JobAsset": 2}
        assert [f for f in after.media - before.media if str(job.uuid) not in f] == []
