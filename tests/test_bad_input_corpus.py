"""A corpus of bad input, run against the three ways in: the pages, the REST API and the
executor. Every case must end in a clear message (which asset or record, and why), never a
500 or a stuck job, and must change nothing else: no rows beyond the refused request's own,
no file outside the job's own place, another job's output untouched.

The executor cases run the real supervisor and child process (job_execute, as a worker
would, without a broker); the page and API cases go through Django's test client.
"""

from __future__ import annotations

import html
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
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from jobs.models import Connection, Job, JobAsset, JobStatus, Runtime, Upload
from jobs.services import InputSpec, job_submit, upload_create
from jobs.worker.supervisor import job_execute
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
def places(in_process_executor):
    return in_process_executor


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
        "COMPLETE",
        ["broken.jsonl", "line 2", "invalid JSON"],
    ),
    "jsonl-not-json-at-all": (
        "words.jsonl",
        lambda: b"hello world\n",
        "",
        {},
        "COMPLETE",
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
        "COMPLETE",
        ["broken.csv", "line 3", "Expected 2 fields, saw 3"],
    ),
    "csv-every-row-one-field-too-many": (
        "shifted.csv",
        lambda: b"id,x\n1,0.5,9\n2,0.7,9\n",
        "",
        {},
        "ERROR",
        ["shifted.csv", "more fields than the header"],
    ),
    "csv-unclosed-quote": (
        "quote.csv",
        lambda: b'id,x\n1,"0.5\n2,0.7\n',
        "",
        {},
        "COMPLETE",
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
        "COMPLETE",
        ["latin1.jsonl", "line 1", "UTF-8"],
    ),
    "csv-latin1": (
        "latin1.csv",
        lambda: "id,name\n1,café\n".encode("latin-1"),
        "",
        {},
        "COMPLETE",
        ["latin1.csv", "UTF-8"],
    ),
    "giant-line-of-garbage": (
        "giant.jsonl",
        lambda: b"x" * (50 * 1024 * 1024),
        "",
        {},
        "COMPLETE",
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
    for text in texts:  # an ERROR names it; a record rejected by encoding is named in the log
        where = job.error_message if status == "ERROR" else job.log
        assert text in where, where
    if status == "COMPLETE" and texts:
        assert (job.result, job.records_rejected) == ("FAILURE", 1)
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
    "sql-set-config": (
        "SELECT set_config('statement_timeout', '0', false), * FROM customers",
        "The query calls set_config(), which is not allowed in an input query",
    ),
}
# Beyond what sqlparse reads (its token limit), and longer than the check reads at all.
TOO_COMPLEX_SQL = "SELECT " + ", ".join(f"c{i}" for i in range(12_000)) + " FROM customers"
TOO_LONG_SQL = "SELECT 1" + " + 1" * 40_000


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


# --- The pages ---------------------------------------------------------------------------------


def page_text(response) -> str:
    return html.unescape(response.content.decode(errors="replace"))


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A multipart body written by hand: the test client would strip folders from file names,
    as a browser may not, and an attacker does not."""
    boundary = "CorpusBoundary7MA4YWxk"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for field, filename, content in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


GOOD_SOURCE = ECHO.encode()
# Nested deeper than CPython's parser goes: it raises MemoryError for the first, RecursionError
# for the second (not SyntaxError).
DEEP_UNARY = b"# modelop.score\ndef action(datum):\n    return " + b"-" * 100_000 + b"1\n"
DEEP_SUM = b"# modelop.score\ndef action(datum):\n    return " + b"+".join([b"1"] * 150_000)
ATTACHMENT_LIMIT = 3 * 1024 * 1024  # above the source's own limit (2 MiB), for "source-too-large"

# (source file name, source bytes, attachments [(name, bytes)], texts the refusal shows)
REGISTER_CASES = {
    "source-syntax-error": (
        "model.py", b"# modelop.score\ndef action(datum)\n    yield datum\n", [],
        ["model.py is not valid Python: line 2"],
    ),
    "source-without-tagged-functions": (
        "model.py", b"def action(datum):\n    yield datum\n", [],
        ["model.py has no function tagged '# modelop.score'"],
    ),
    "source-not-utf8": (
        "model.py", "# modelop.score\ndef action(d):\n    yield 'café'\n".encode("latin-1"), [],
        ["model.py is not UTF-8 text"],
    ),
    "source-utf16": (
        "model.py", ECHO.encode("utf-16"), [], ["model.py is not UTF-8 text"],
    ),
    "source-not-python-file": ("model.txt", GOOD_SOURCE, [], ["must be a .py file"]),
    "source-empty": ("model.py", b"", [], ["The submitted file is empty."]),
    "source-too-large": (
        "model.py", GOOD_SOURCE + b"#" * (2 * 1024 * 1024), [], ["model.py is larger than"],
    ),
    "attachment-dot-name": (
        "model.py", GOOD_SOURCE, [(".env", b"SECRET=1")], ["'.env' is not a plain file name"],
    ),
    "attachment-named-like-source": (
        "model.py", GOOD_SOURCE, [("model.py", b"x")], ["cannot have the source's name"],
    ),
    "attachments-same-name": (
        "model.py", GOOD_SOURCE, [("a.pickle", b"1"), ("a.pickle", b"2")],
        ["Two attachments are named a.pickle"],
    ),
    "source-nested-too-deeply-memory-error": (
        "model.py", DEEP_UNARY, [], ["the model source is too deeply nested for Python to parse"],
    ),
    "source-nested-too-deeply-recursion-error": (
        "model.py", DEEP_SUM, [], ["the model source is too deeply nested for Python to parse"],
    ),
    "attachment-over-the-limit": (
        "model.py", GOOD_SOURCE, [("w.bin", b"0" * (ATTACHMENT_LIMIT + 1))],
        ["w.bin is larger than 3.0 MB (3,145,728 bytes)", "(ATTACHMENT_MAX_BYTES)"],
    ),
}  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(REGISTER_CASES))
def test_register_form_refuses_bad_source_and_attachments(
    case, places, alice_client, team_alpha, settings
):
    settings.ATTACHMENT_MAX_BYTES = ATTACHMENT_LIMIT
    source_name, source, attachments, texts = REGISTER_CASES[case]
    body, content_type = multipart(
        {"name": "bad", "team": str(team_alpha.pk)},
        [("source", source_name, source), *[("attachments", n, c) for n, c in attachments]],
    )
    before = world(places)

    response = alice_client.post(reverse("registry-model-create"), body, content_type=content_type)

    assert response.status_code == 200
    for text in texts:
        assert text in page_text(response)
    assert_nothing_else_changed(before, world(places), job=None)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "filename",
    ["../../../etc/evil.pickle", "..\\..\\evil.pickle", "/tmp/evil.pickle", "....//evil.pickle"],
)
def test_attachment_names_with_folders_never_reach_outside_the_snapshot(
    filename, places, alice_client, team_alpha, tmp_path
):
    body, content_type = multipart(
        {"name": "traversal", "team": str(team_alpha.pk)},
        [("source", "model.py", GOOD_SOURCE), ("attachments", filename, b"payload")],
    )
    before = world(places)

    response = alice_client.post(reverse("registry-model-create"), body, content_type=content_type)

    assert response.status_code in (200, 302)
    if response.status_code == 200:  # refused: the message names the file
        assert "evil.pickle" in page_text(response)
        assert changed_rows(before, world(places)) == {}
    else:  # Django kept the base name only: a plain file inside the snapshot's folder
        snapshot = Snapshot.objects.get(model__name="traversal")
        assert [a.name for a in snapshot.attachments.all()] == ["evil.pickle"]
        new = world(places).media - before.media
        assert new == {f"snapshots/{snapshot.uuid}/evil.pickle"}
    outside = [p for p in tmp_path.rglob("evil.pickle") if "snapshots" not in p.parts]
    assert outside == []


@pytest.mark.django_db
def test_a_request_body_over_the_limit_is_a_clear_400(places, alice_client, team_alpha, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    before = world(places)

    response = alice_client.post(
        reverse("registry-model-create"), {"name": "big", "description": "x" * 20_000}
    )

    assert response.status_code == 400
    assert "too large" in page_text(response)
    assert_nothing_else_changed(before, world(places), job=None)


@pytest.mark.django_db
@pytest.mark.parametrize("query", [TOO_COMPLEX_SQL, TOO_LONG_SQL], ids=["complex", "long"])
def test_a_query_too_long_or_complex_to_check_is_refused_on_the_wizard_page(
    query, places, alice_client, echo_snapshot, warehouse
):
    alice_client.get(reverse("jobs-wizard-start") + f"?snapshot={echo_snapshot.uuid}")
    for step, data in (("runtime", {"runtime": "auto"}), ("type", {"job_type": "scoring"})):
        alice_client.post(reverse("jobs-wizard-step", args=[step]), data)
    alice_client.post(reverse("jobs-wizard-step", args=["schemas"]), {})
    before = world(places)

    response = alice_client.post(
        reverse("jobs-wizard-step", args=["inputs"]),
        {"kind": "sql", "sql_connection": str(warehouse.uuid), "sql_query": query, "action": "add"},
    )

    assert response.status_code == 200  # the step again, with the reason at the field
    assert (
        f"The query is too long or too complex to check ({len(query):,} characters)"
        in page_text(response)
    )
    assert_nothing_else_changed(before, world(places), job=None)


@pytest.mark.django_db
def test_an_upload_over_the_limit_is_refused_on_the_wizard_page(
    places, alice_client, echo_snapshot, settings
):
    settings.UPLOAD_MAX_BYTES = 100
    alice_client.get(reverse("jobs-wizard-start") + f"?snapshot={echo_snapshot.uuid}")
    for step, data in (("runtime", {"runtime": "auto"}), ("type", {"job_type": "scoring"})):
        alice_client.post(reverse("jobs-wizard-step", args=[step]), data)
    alice_client.post(reverse("jobs-wizard-step", args=["schemas"]), {})
    before = world(places)

    response = alice_client.post(
        reverse("jobs-wizard-step", args=["inputs"]),
        {"kind": "upload", "file": ContentFile(b"x" * 500, name="big.jsonl"), "action": "add"},
    )

    assert response.status_code == 200
    # Refused while it streamed in: it never reached the disk (commandcenter.lib.uploads).
    assert "big.jsonl is larger than 100 bytes (100 bytes), the largest file allowed here" in (
        page_text(response)
    )
    assert_nothing_else_changed(before, world(places), job=None)


RANDOM = "5f0c6e4e-1d1b-4a44-9a53-0d2c1e7b9a10"


@pytest.fixture
def alice_job(places, alice, echo_snapshot):
    return job_submit(
        user=alice, snapshot=echo_snapshot,
        inputs=[InputSpec(kind=JobAsset.Kind.EMBEDDED, data='{"id": 1}\n')],
    )  # fmt: skip


# (method, url, made from the fixtures) -> 404 for a person who may not see it or it is not there
NOT_THERE = {
    "job-unknown": ("get", lambda j: f"/jobs/{RANDOM}/"),
    "job-status-unknown": ("get", lambda j: f"/jobs/{RANDOM}/status/"),
    "job-cancel-unknown": ("post", lambda j: f"/jobs/{RANDOM}/cancel/"),
    "job-not-a-uuid": ("get", lambda j: "/jobs/12345/"),
    "job-asset-unknown": ("get", lambda j: f"/jobs/{j.uuid}/assets/{RANDOM}/"),
    "job-output-not-yet": ("get", lambda j: f"/jobs/{j.uuid}/output/"),
    "model-unknown": ("get", lambda j: f"/models/{RANDOM}/"),
    "snapshot-unknown": ("get", lambda j: f"/models/snapshots/{RANDOM}/"),
    "snapshot-source-unknown": ("get", lambda j: f"/models/snapshots/{RANDOM}/source/"),
    "attachment-traversal": (
        "get", lambda j: f"/models/snapshots/{j.snapshot.uuid}/files/..%2F..%2Fsecret_key",
    ),
    "attachment-nul-byte": (
        "get", lambda j: f"/models/snapshots/{j.snapshot.uuid}/files/a%00b.pickle",
    ),
    "wizard-start-snapshot-garbage": ("get", lambda j: "/jobs/new/?snapshot=../../etc"),
    "wizard-start-model-unknown": ("get", lambda j: f"/jobs/new/?model={RANDOM}"),
    "wizard-step-unknown": ("get", lambda j: "/jobs/new/launch-missiles/"),
}  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(NOT_THERE))
def test_unknown_ids_in_urls_are_a_plain_404(case, places, alice_client, alice_job):
    method, url = NOT_THERE[case]
    before = world(places)

    response = getattr(alice_client, method)(url(alice_job))

    assert response.status_code == 404
    assert_nothing_else_changed(before, world(places), job=None)
    alice_job.refresh_from_db()
    assert alice_job.status == JobStatus.WAITING


# What charlie, of another team, tries with alice's objects: each is refused as "not found".
FORGED = {
    "see-the-job": ("get", lambda j: j.get_absolute_url(), {}),
    "cancel-the-job": ("post", lambda j: f"/jobs/{j.uuid}/cancel/", {}),
    "see-the-snapshot": ("get", lambda j: j.snapshot.get_absolute_url(), {}),
    "download-the-source": ("get", lambda j: f"/models/snapshots/{j.snapshot.uuid}/source/", {}),
    "download-an-attachment": (
        "get", lambda j: f"/models/snapshots/{j.snapshot.uuid}/files/input_schema.avsc", {},
    ),
    "add-a-snapshot": (
        "post", lambda j: f"/models/{j.snapshot.model.uuid}/snapshots/new/",
        {"source": lambda: ContentFile(GOOD_SOURCE, name="model.py")},
    ),
    "start-the-wizard-on-it": ("get", lambda j: f"/jobs/new/?snapshot={j.snapshot.uuid}", {}),
}  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(FORGED))
def test_another_teams_ids_are_refused_as_not_found(case, places, charlie_client, alice_job):
    method, url, data = FORGED[case]
    before = world(places)

    response = getattr(charlie_client, method)(url(alice_job), {k: v() for k, v in data.items()})

    assert response.status_code == 404
    assert_nothing_else_changed(before, world(places), job=None)
    alice_job.refresh_from_db()
    assert alice_job.status == JobStatus.WAITING


@pytest.mark.django_db
def test_the_wizard_refuses_a_forged_model_and_snapshot_of_another_team(
    places, charlie, charlie_client, alice_job
):
    own = model_create(
        owner=charlie, team=charlie.groups.get(), name="mine", source_name="model.py",
        source=ECHO,
    )  # fmt: skip
    charlie_client.get(reverse("jobs-wizard-start"))
    before = world(places)

    forged_model = charlie_client.post(
        reverse("jobs-wizard-step", args=["model"]), {"model": str(alice_job.snapshot.model.uuid)}
    )
    assert forged_model.status_code == 200
    assert "Choose one of your teams' models." in page_text(forged_model)

    charlie_client.post(reverse("jobs-wizard-step", args=["model"]), {"model": str(own.uuid)})
    forged_snapshot = charlie_client.post(
        reverse("jobs-wizard-step", args=["snapshot"]), {"snapshot": str(alice_job.snapshot.uuid)}
    )
    assert forged_snapshot.status_code == 200
    assert "Choose one of this model's snapshots." in page_text(forged_snapshot)
    assert str(alice_job.snapshot.uuid) not in str(dict(charlie_client.session))
    assert_nothing_else_changed(before, world(places), job=None)


# POSTs without the CSRF token (a forged cross-site form): refused, nothing happens.
CSRF_LESS = {
    "cancel-a-job": (lambda j: f"/jobs/{j.uuid}/cancel/", {}),
    "register-a-model": (lambda j: "/models/new/", {"name": "x"}),
    "add-a-snapshot": (lambda j: f"/models/{j.snapshot.model.uuid}/snapshots/new/", {}),
    "wizard-step": (lambda j: "/jobs/new/model/", {"model": RANDOM}),
    "log-out": (lambda j: "/logout/", {}),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(CSRF_LESS))
def test_a_post_without_the_csrf_token_is_refused(case, places, alice, alice_job):
    url, data = CSRF_LESS[case]
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    before = world(places)

    response = client.post(url(alice_job), data)

    assert response.status_code == 403
    assert "CSRF verification failed" in page_text(response)
    assert_nothing_else_changed(before, world(places), job=None)
    alice_job.refresh_from_db()
    assert alice_job.status == JobStatus.WAITING
    assert client.get("/jobs/").status_code == 200  # still logged in


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    ["?status=BOGUS", "?page=abc", "?page=99999", "?model=not-a-uuid", "?job_type=%00"],
)
def test_nonsense_in_list_filters_is_ignored_or_shown_not_a_500(query, alice_client, alice_job):
    assert alice_client.get(f"/jobs/{query}").status_code == 200


# --- The REST API --------------------------------------------------------------------------------


def api_client(user=None) -> APIClient:
    from api.authentication import token_issue

    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user).key}")
    return client


def _job_body(snapshot_uuid, **changes) -> dict:
    body = {
        "job_type": "scoring",
        "snapshot": str(snapshot_uuid),
        "inputs": [{"kind": "embedded", "data": '{"id": 1}\n'}],
    }
    return {**body, **changes}


# name -> (who, method, url, request keywords, made from (job, connection)), statuses, text
API_CASES = {
    "job-unknown": ("alice", "get", lambda j, c: f"/api/jobs/{RANDOM}/", lambda j, c: {},
                    {404}, "Not found."),
    "job-cancel-unknown": ("alice", "post", lambda j, c: f"/api/jobs/{RANDOM}/cancel/",
                           lambda j, c: {}, {404}, "Not found."),
    "job-rerun-unknown": ("alice", "post", lambda j, c: f"/api/jobs/{RANDOM}/rerun/",
                          lambda j, c: {}, {404}, "Not found."),
    "job-not-a-uuid": ("alice", "get", lambda j, c: "/api/jobs/12345/", lambda j, c: {},
                       {404}, ""),
    "snapshot-of-another-team": ("charlie", "get",
                                 lambda j, c: f"/api/snapshots/{j.snapshot.uuid}/",
                                 lambda j, c: {}, {404}, "Not found."),
    "cancel-another-teams-job": ("charlie", "post", lambda j, c: f"/api/jobs/{j.uuid}/cancel/",
                                 lambda j, c: {}, {404}, "Not found."),
    "rerun-another-teams-job": ("charlie", "post", lambda j, c: f"/api/jobs/{j.uuid}/rerun/",
                                lambda j, c: {}, {404}, "Not found."),
    "job-on-another-teams-snapshot": (
        "charlie", "post", lambda j, c: "/api/jobs/",
        lambda j, c: {"data": _job_body(j.snapshot.uuid), "format": "json"},
        {400, 404}, "No snapshot with this uuid that you may see.",
    ),
    "job-on-another-teams-model": (
        "charlie", "post", lambda j, c: "/api/jobs/",
        lambda j, c: {"data": _job_body(j.snapshot.uuid, snapshot=None,
                                        model=str(j.snapshot.model.uuid)), "format": "json"},
        {400, 404}, "No model with this uuid that you may see.",
    ),
    "job-with-another-users-upload": (
        "bob", "post", lambda j, c: "/api/jobs/",
        lambda j, c: {"data": _job_body(j.snapshot.uuid, inputs=[
            {"kind": "upload", "upload": str(Upload.objects.get(name="alices.jsonl").uuid)}]),
            "format": "json"},
        {400}, "upload",
    ),
    "malformed-json": ("alice", "post", lambda j, c: "/api/jobs/",
                       lambda j, c: {"data": '{"job_type": "scoring", "snapshot": ',
                                     "content_type": "application/json"},
                       {400}, "JSON parse error"),
    "json-array-not-object": ("alice", "post", lambda j, c: "/api/jobs/",
                              lambda j, c: {"data": "[1, 2, 3]",
                                            "content_type": "application/json"},
                              {400}, ""),
    "wrong-content-type": ("alice", "post", lambda j, c: "/api/jobs/",
                           lambda j, c: {"data": "job_type=scoring", "content_type": "text/plain"},
                           {415}, "Unsupported media type"),
    "unknown-job-type": ("alice", "post", lambda j, c: "/api/jobs/",
                         lambda j, c: {"data": _job_body(j.snapshot.uuid, job_type="launch"),
                                       "format": "json"}, {400}, "launch"),
    "embedded-data-too-large": (
        "alice", "post", lambda j, c: "/api/jobs/",
        lambda j, c: {"data": _job_body(j.snapshot.uuid, inputs=[
            {"kind": "embedded", "data": "x" * 2_000}]), "format": "json"},
        {400}, "the limit is 1,000",
    ),
    "sql-that-deletes": (
        "alice", "post", lambda j, c: "/api/jobs/",
        lambda j, c: {"data": _job_body(j.snapshot.uuid, inputs=[
            {"kind": "sql", "query": "DELETE FROM customers", "connection": c.name}]),
            "format": "json"},
        {400}, "not DELETE",
    ),
    "sql-that-terminates-backends": (
        "alice", "post", lambda j, c: "/api/jobs/",
        lambda j, c: {"data": _job_body(j.snapshot.uuid, inputs=[
            {"kind": "sql", "query": "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
             "connection": c.name}]), "format": "json"},
        {400}, "The query calls pg_terminate_backend(), which is not allowed in an input query",
    ),
    "sql-too-complex-to-check": (
        "alice", "post", lambda j, c: "/api/jobs/",
        lambda j, c: {"data": _job_body(j.snapshot.uuid, inputs=[
            {"kind": "sql", "query": TOO_COMPLEX_SQL, "connection": c.name}]), "format": "json"},
        {400}, f"The query is too long or too complex to check ({len(TOO_COMPLEX_SQL):,} characters)",
    ),
    "sql-too-long-to-check": (
        "alice", "post", lambda j, c: "/api/jobs/",
        lambda j, c: {"data": _job_body(j.snapshot.uuid, inputs=[
            {"kind": "sql", "query": TOO_LONG_SQL, "connection": c.name}]), "format": "json"},
        {400}, f"The query is too long or too complex to check ({len(TOO_LONG_SQL):,} characters)",
    ),
    "model-source-syntax-error": (
        "alice", "post", lambda j, c: "/api/models/",
        lambda j, c: {"data": {"name": "bad", "source": ContentFile(
            b"# modelop.score\ndef f(x)\n", name="m.py")}, "format": "multipart"},
        {400}, "m.py is not valid Python",
    ),
    "model-source-untagged": (
        "alice", "post", lambda j, c: "/api/models/",
        lambda j, c: {"data": {"name": "bad", "source": ContentFile(
            b"def f(x):\n    return x\n", name="m.py")}, "format": "multipart"},
        {400}, "has no function tagged",
    ),
    "model-source-nested-too-deeply": (
        "alice", "post", lambda j, c: "/api/models/",
        lambda j, c: {"data": {"name": "deep", "source": ContentFile(DEEP_UNARY, name="m.py")},
                      "format": "multipart"},
        {400}, "the model source is too deeply nested for Python to parse",
    ),
    "snapshot-source-nested-too-deeply": (
        "alice", "post", lambda j, c: f"/api/models/{j.snapshot.model.uuid}/snapshots/",
        lambda j, c: {"data": {"source": ContentFile(DEEP_SUM, name="m.py")},
                      "format": "multipart"},
        {400}, "the model source is too deeply nested for Python to parse",
    ),
    "model-attachment-over-the-limit": (
        "alice", "post", lambda j, c: "/api/models/",
        lambda j, c: {"data": {"name": "x", "source": ContentFile(GOOD_SOURCE, name="m.py"),
                               "attachments": [ContentFile(b"0" * 500_001, name="w.bin")]},
                      "format": "multipart"},
        {400}, "w.bin is larger than 488.3 KB (500,000 bytes)",
    ),
    "model-for-another-team": (
        "alice", "post", lambda j, c: "/api/models/",
        lambda j, c: {"data": {"name": "x", "team": "gamma", "source": ContentFile(
            GOOD_SOURCE, name="m.py")}, "format": "multipart"},
        {400}, "gamma",
    ),
    "model-attachment-dot-name": (
        "alice", "post", lambda j, c: "/api/models/",
        lambda j, c: {"data": {"name": "x", "source": ContentFile(GOOD_SOURCE, name="m.py"),
                               "attachments": [ContentFile(b"k", name=".env")]},
                      "format": "multipart"},
        {400}, ".env",
    ),
    "upload-too-large": (
        "alice", "post", lambda j, c: "/api/uploads/",
        lambda j, c: {"data": {"file": ContentFile(b"x" * 5_000, name="big.jsonl")},
                      "format": "multipart"},
        {400}, "big.jsonl is larger than 1000 bytes (1,000 bytes)",
    ),
    "made-up-token": (
        None, "get", lambda j, c: "/api/jobs/", lambda j, c: {}, {401}, "",
    ),
}  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(API_CASES))
def test_api_bad_input(case, places, alice, bob, charlie, alice_job, warehouse, settings):
    who, method, url, options, statuses, text = API_CASES[case]
    settings.EMBEDDED_INPUT_MAX_BYTES = 1_000
    settings.UPLOAD_MAX_BYTES = 1_000
    settings.ATTACHMENT_MAX_BYTES = 500_000  # above the nested sources' size
    upload_create(owner=alice, content=ContentFile(b'{"id": 1}\n', name="alices.jsonl"))
    users = {"alice": alice, "bob": bob, "charlie": charlie}
    client = api_client(users.get(who))
    if who is None:
        client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    before = world(settings)

    response = getattr(client, method)(url(alice_job, warehouse), **options(alice_job, warehouse))

    assert response.status_code in statuses, response.content[:500]
    if case != "job-not-a-uuid":  # no URL matches that path: Django's own 404 page
        assert response["Content-Type"].startswith("application/json")
        assert text in str(response.json())
    assert_nothing_else_changed(before, world(settings), job=None)
    alice_job.refresh_from_db()
    assert alice_job.status == JobStatus.WAITING
    assert warehouse.rows() == [(1, 0.5), (2, 0.7)]


@pytest.mark.django_db
def test_a_runtime_without_the_snapshots_tags_is_refused_on_the_wizard_and_the_api(
    places, alice, alice_client, echo_snapshot
):
    dev = Runtime.objects.create(name="dev", queue="dev", tags=["dev"])
    Snapshot.objects.filter(pk=echo_snapshot.pk).update(runtime_tags=["PROD", "gpu"])
    alice_client.get(reverse("jobs-wizard-start") + f"?snapshot={echo_snapshot.uuid}")
    before = world(places)
    expected = "runtime dev lacks the tags PROD, gpu that snapshot v1 requires"

    page = alice_client.post(reverse("jobs-wizard-step", args=["runtime"]), {"runtime": dev.uuid})
    api = api_client(alice).post(
        "/api/jobs/", _job_body(echo_snapshot.uuid, runtime="dev"), format="json"
    )

    assert page.status_code == 200 and expected in page_text(page)
    assert api.status_code == 400 and expected in api.json()["runtime"][0]
    assert_nothing_else_changed(before, world(places), job=None)


@pytest.mark.django_db
def test_metrics_too_large_to_draw_are_bounded_on_the_job_page(
    places, alice, alice_client, echo_snapshot
):
    n, points = 300, 200_000
    metrics = {
        "labels": list(range(n)),
        "confusion_matrix": [[1] * n for _ in range(n)],
        "roc_curve": {"fpr": [i / points for i in range(points)], "tpr": [1.0] * points},
        "interpretability": {
            "feature_importance": [{"feature": f"f{i}", "importance": i} for i in range(5_000)]
        },
    }
    job = Job.objects.create(
        snapshot=echo_snapshot, created_by=alice, job_type="metrics", status=JobStatus.COMPLETE,
        metrics=metrics,
    )  # fmt: skip
    before = world(places)

    response = alice_client.get(reverse("jobs-detail", args=[job.uuid]))

    text = page_text(response)
    assert response.status_code == 200
    assert "Confusion matrix: 300 classes, too many to draw (at most 50)" in text
    assert '<g class="cm-cell">' not in text
    (line,) = [t for t in text.split("<polyline")[1:]]
    assert line.split('points="')[1].split('"')[0].count(",") == 2_000
    assert "The 30 largest of 5,000 features are drawn." in text
    assert "too large to show here" in text  # the raw JSON is a download instead
    assert_nothing_else_changed(before, world(places), job=None)


@pytest.mark.django_db
def test_api_post_with_a_session_and_no_csrf_token_is_refused(places, alice, alice_job):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    before = world(places)

    response = client.post(f"/api/jobs/{alice_job.uuid}/cancel/")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert_nothing_else_changed(before, world(places), job=None)
    alice_job.refresh_from_db()
    assert alice_job.status == JobStatus.WAITING


# --- Through a real worker ----------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_survives_a_run_of_bad_inputs_and_serves_the_next_job(
    celery_worker, alice, team_alpha
):
    from tests.conftest import wait_for_job

    Runtime.objects.get_or_create(name="default", defaults={"queue": "default", "is_default": True})
    snapshot = model_create(
        owner=alice, team=team_alpha, name="echo-w", source_name="model.py", source=ECHO
    ).latest_snapshot()
    bad = [
        ("garbage.parquet", b"PAR1 nope"),
        ("utf16.jsonl", '{"id": 1}\n'.encode("utf-16")),
        ("giant.jsonl", b"x" * (20 * 1024 * 1024)),
        ("broken.csv", b"id,x\n1,2,3\n"),
    ]
    jobs = []
    for name, content in [*bad, ("good.jsonl", b'{"id": 1}\n{"id": 2}\n')]:
        upload = upload_create(owner=alice, content=ContentFile(content, name=name))
        jobs.append(
            job_submit(
                user=alice,
                snapshot=snapshot,
                inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload)],
            )  # fmt: skip
        )

    finished = [wait_for_job(job, timeout=120) for job in jobs]

    for job, (name, _) in zip(finished[:-1], bad, strict=True):
        if name == "giant.jsonl":  # one record that is not JSON: rejected by encoding
            assert (job.status, job.result, job.records_rejected) == ("COMPLETE", "FAILURE", 1)
            continue
        assert job.status == JobStatus.ERROR and name in job.error_message, (name, job.log[-800:])
    assert (finished[-1].status, finished[-1].records_written) == (JobStatus.COMPLETE, 2)
    assert celery_worker.poll() is None  # the worker process is still up
