"""Record-level semantics of a scoring job (ModelOp's "Model Batch Jobs and Tests"), through
the real supervisor: job_execute in-process, spawning the real child.

A record that cannot be decoded, fails the input schema, makes score raise, or gives an output
that cannot be encoded is rejected (counted, written to the rejects file with its number and
reason, logged) and the job goes on; any reject makes the result FAILURE; stop-on-bad-records
and an error threshold end the job in ERROR instead.
"""

from __future__ import annotations

import json

import orjson
import pytest
from django.core.files.base import ContentFile

from jobs.models import Job, JobAsset, JobResult, JobStatus
from jobs.services import InputSpec, upload_create
from jobs.worker.supervisor import job_execute
from models_registry.services import model_create
from tests.jobs.test_executor_supervisor import embedded, stored_files, submit

pytestmark = pytest.mark.django_db(transaction=True)

ECHO = "# modelop.score\ndef action(datum):\n    yield datum\n"


@pytest.fixture(autouse=True)
def executor_settings(in_process_executor):
    return in_process_executor


def snapshot_of(source: str, *, owner, team, attachments: dict | None = None):
    from django.core.files.uploadedfile import SimpleUploadedFile

    files = [
        SimpleUploadedFile(name, content.encode()) for name, content in (attachments or {}).items()
    ]
    model = model_create(
        owner=owner, team=team, name="rejects-model", source_name="model.py", source=source,
        attachments=files,
    )  # fmt: skip
    return model.latest_snapshot()


def uploaded(owner, name: str, content: bytes) -> InputSpec:
    upload = upload_create(owner=owner, content=ContentFile(content, name=name))
    return InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload)


def run(job: Job) -> Job:
    job_execute(job_uuid=str(job.uuid))
    job.refresh_from_db()
    return job


def rejects_of(job: Job) -> list[dict]:
    with job.output_asset().rejects_file.open("rb") as f:
        return [orjson.loads(line) for line in f]


def output_of(job: Job) -> list:
    with job.output_asset().file.open("rb") as f:
        return [orjson.loads(line) for line in f]


# --- Rejected by encoding: input ---------------------------------------------------------------


def test_a_json_line_that_is_not_json_is_rejected_and_the_job_goes_on(alice, team_alpha):
    data = '{"x": 1}\n{"x": \nnot json at all\n{"x": 4}\n'
    job = run(
        submit(
            alice,
            snapshot_of(ECHO, owner=alice, team=team_alpha),
            InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data),
        )
    )
    assert (job.status, job.result) == (JobStatus.COMPLETE, JobResult.FAILURE)
    assert (job.records_read, job.records_written, job.records_rejected) == (4, 2, 2)
    assert output_of(job) == [{"x": 1}, {"x": 4}]
    rejects = rejects_of(job)
    assert [(r["direction"], r["record"], r["line"]) for r in rejects] == [
        ("input", 2, 2),
        ("input", 3, 3),
    ]
    assert rejects[0]["reason"].startswith("invalid JSON at column 7")
    assert rejects[1]["data"] == "not json at all"
    assert "rejected input record 3 (line 3) of 'embedded.jsonl': invalid JSON" in job.log


def test_bytes_that_are_not_utf8_are_rejected_by_encoding_in_json_lines_and_csv(alice, team_alpha):
    snapshot = snapshot_of(ECHO, owner=alice, team=team_alpha)
    jsonl = run(
        submit(alice, snapshot, uploaded(alice, "in.jsonl", b'{"a": 1}\n{"a": "caf\xe9"}\n'))
    )
    csv = run(submit(alice, snapshot, uploaded(alice, "in.csv", b"a,b\n1,x\n2,caf\xe9\n3,z\n")))

    assert (jsonl.status, jsonl.result, jsonl.records_rejected) == ("COMPLETE", "FAILURE", 1)
    assert rejects_of(jsonl)[0]["reason"] == "not UTF-8 text"
    assert (csv.status, csv.result, csv.records_rejected) == ("COMPLETE", "FAILURE", 1)
    [reject] = rejects_of(csv)
    assert (reject["record"], reject["line"], reject["reason"]) == (
        2,
        3,
        "not UTF-8 text (byte 6 of the row)",
    )
    assert output_of(csv) == [{"a": 1, "b": "x"}, {"a": 3, "b": "z"}]


def test_a_csv_row_that_does_not_parse_is_rejected_with_its_line(alice, team_alpha, settings):
    settings.JOB_CHUNK_ROWS = 2  # the bad row is in a later chunk than the first
    settings.JOB_CHUNK_BYTES = 0  # chunks of JOB_CHUNK_ROWS rows
    rows = b'id,x\n1,0.5\n2,"multi\nline"\n3,0.7,9\n4,0.8\n'
    job = run(
        submit(
            alice, snapshot_of(ECHO, owner=alice, team=team_alpha), uploaded(alice, "r.csv", rows)
        )
    )
    assert (job.status, job.result) == (JobStatus.COMPLETE, JobResult.FAILURE)
    assert [(r["record"], r["line"], r["reason"], r["data"]) for r in rejects_of(job)] == [
        (3, 5, "Expected 2 fields, saw 3", "3,0.7,9")
    ]
    assert [r["id"] for r in output_of(job)] == [1, 2, 4]
    assert output_of(job)[1]["x"] == "multi\nline"


# --- Rejected by encoding: output -------------------------------------------------------------


def test_an_output_that_cannot_be_encoded_as_json_is_rejected_not_written_as_null(
    alice, team_alpha
):
    source = """
import math

class Opaque:
    pass

# modelop.score
def action(datum):
    kind = datum["kind"]
    if kind == "nan":
        yield {"score": math.nan}
    elif kind == "inf":
        yield {"nested": [1.0, -math.inf]}
    elif kind == "object":
        yield {"score": Opaque()}
    else:
        yield {"score": 0.5, "note": None}
"""
    kinds = ["ok", "nan", "inf", "object", "ok"]
    job = run(
        submit(
            alice,
            snapshot_of(source, owner=alice, team=team_alpha),
            embedded(*({"kind": k} for k in kinds)),
        )
    )
    assert (job.status, job.result) == (JobStatus.COMPLETE, JobResult.FAILURE)
    assert (job.records_read, job.records_written, job.records_rejected) == (5, 2, 3)
    assert output_of(job) == [{"score": 0.5, "note": None}] * 2
    rejects = rejects_of(job)
    assert [(r["direction"], r["record"]) for r in rejects] == [
        ("output", 2),
        ("output", 3),
        ("output", 4),
    ]
    assert rejects[0]["reason"] == "cannot be encoded as JSON: field 'score' is nan"
    assert rejects[1]["reason"] == "cannot be encoded as JSON: field 'nested'[1] is -inf"
    assert rejects[2]["reason"].startswith("cannot be encoded as JSON: ")
    assert "Opaque" in rejects[2]["reason"]


def test_batch_mode_rejects_the_rows_with_infinity_and_writes_nan_as_a_missing_value(
    alice, team_alpha
):
    source = """
# moc.batch: true
import numpy as np

# modelop.score
def action(df):
    df["score"] = 1 / df["x"]        # x = 0 gives inf
    df["maybe"] = np.where(df["x"] > 1, np.nan, 1.0)
    df["extra"] = [object() if x == 3 else [x] for x in df["x"]]  # pandas would write {}
    return df
"""
    job = run(
        submit(
            alice,
            snapshot_of(source, owner=alice, team=team_alpha),
            embedded({"x": 1}, {"x": 0}, {"x": 2}, {"x": 3}),
        )
    )
    assert (job.status, job.result, job.records_rejected) == ("COMPLETE", "FAILURE", 2)
    assert output_of(job) == [
        {"x": 1, "score": 1.0, "maybe": 1.0, "extra": [1]},
        {"x": 2, "score": 0.5, "maybe": None, "extra": [2]},
    ]
    rejects = rejects_of(job)
    assert [(r["direction"], r["record"], r["reason"]) for r in rejects] == [
        ("output", 2, "cannot be encoded as JSON: field 'score' is inf"),
        ("output", 4, "cannot be encoded as JSON: field 'extra' is an object"),
    ]


# --- Score exceptions ------------------------------------------------------------------------


def test_an_exception_in_score_rejects_that_record_with_the_traceback_in_the_log(alice, team_alpha):
    source = "# modelop.score\ndef action(datum):\n    yield {'y': 10 / datum['x']}\n"
    job = run(
        submit(
            alice,
            snapshot_of(source, owner=alice, team=team_alpha),
            embedded({"x": 1}, {"x": 0}, {"x": 5}),
        )
    )
    assert (job.status, job.result) == (JobStatus.COMPLETE, JobResult.FAILURE)
    assert output_of(job) == [{"y": 10.0}, {"y": 2.0}]
    [reject] = rejects_of(job)
    assert reject == {
        "direction": "input", "record": 2, "asset": "embedded.jsonl", "data": {"x": 0},
        "reason": "score function 'action' raised ZeroDivisionError: division by zero",
    }  # fmt: skip
    assert "Traceback (most recent call last)" in job.log
    assert "10 / datum['x']" in job.log


def test_in_batch_mode_an_exception_rejects_the_records_of_that_chunk(alice, team_alpha, settings):
    settings.JOB_CHUNK_ROWS = 2
    settings.JOB_CHUNK_BYTES = 0  # chunks of JOB_CHUNK_ROWS rows
    source = """
# moc.batch: true
# modelop.score
def action(df):
    if (df["x"] == 0).any():
        raise ValueError("zero in this chunk")
    return df.assign(y=10 / df["x"])
"""
    job = run(
        submit(
            alice,
            snapshot_of(source, owner=alice, team=team_alpha),
            embedded({"x": 1}, {"x": 2}, {"x": 0}, {"x": 4}, {"x": 5}),
        )
    )
    assert (job.status, job.result) == (JobStatus.COMPLETE, JobResult.FAILURE)
    assert [r["x"] for r in output_of(job)] == [1, 2, 5]
    rejects = rejects_of(job)
    assert [r["record"] for r in rejects] == [3, 4]
    assert rejects[0]["reason"] == (
        "score function 'action' raised ValueError: zero in this chunk on input records 3–4"
    )


def test_in_recordsets_mode_and_with_a_json_array_an_exception_rejects_every_record(
    alice, team_alpha
):
    recordsets = """
# modelop.recordsets.0: true
# modelop.score
def action(df):
    raise ValueError(f"cannot score {len(df)} rows")
"""
    whole = "# modelop.score\ndef action(data):\n    return 1 / len(data[5:])\n"
    frames = run(
        submit(
            alice, snapshot_of(recordsets, owner=alice, team=team_alpha),
            embedded({"x": 1}, {"x": 2}, {"x": 3}),
        )
    )  # fmt: skip
    array = run(
        submit(
            alice, snapshot_of(whole, owner=alice, team=team_alpha),
            uploaded(alice, "arr.json", b'[{"x": 1}, {"x": 2}]'),
        )
    )  # fmt: skip

    assert (frames.status, frames.result, frames.records_rejected) == ("COMPLETE", "FAILURE", 3)
    assert [r["record"] for r in rejects_of(frames)] == [1, 2, 3]
    assert rejects_of(frames)[0]["reason"] == (
        "score function 'action' raised ValueError: cannot score 3 rows on all 3 input records"
    )
    assert (array.status, array.result, array.records_rejected) == ("COMPLETE", "FAILURE", 2)
    assert rejects_of(array)[1] == {
        "direction": "input", "record": 2, "asset": "arr.json", "data": {"x": 2},
        "reason": "score function 'action' raised ZeroDivisionError: division by zero "
        "on the array of 2 records in 'arr.json'",
    }  # fmt: skip


# --- Result and options ----------------------------------------------------------------------


def test_a_job_without_rejects_ends_complete_with_success(alice, team_alpha):
    job = run(submit(alice, snapshot_of(ECHO, owner=alice, team=team_alpha), embedded({"x": 1})))
    assert (job.status, job.result, job.records_rejected) == ("COMPLETE", "SUCCESS", 0)
    assert not job.output_asset().rejects_file


def test_stop_on_bad_records_ends_the_job_in_error_naming_the_record(alice, team_alpha):
    job = run(
        submit(
            alice,
            snapshot_of(ECHO, owner=alice, team=team_alpha),
            InputSpec(kind=JobAsset.Kind.EMBEDDED, data='{"x": 1}\n{"x": \n{"x": 3}\n'),
            stop_on_bad_records=True,
        )
    )
    assert job.status == JobStatus.ERROR
    assert job.error_message == (
        "stopped on the first bad record: input record 2 (line 2) of 'embedded.jsonl': "
        "invalid JSON at column 7: unexpected end of data"
    )
    assert not job.output_asset().file
    assert stored_files(job) == []


def test_more_rejects_than_the_threshold_end_the_job_in_error(alice, team_alpha):
    snapshot = snapshot_of(ECHO, owner=alice, team=team_alpha)
    data = '{"x": 1}\nbad\nbad\n{"x": 4}\nbad\n'
    within = run(
        submit(alice, snapshot, InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data), max_rejects=3)
    )
    over = run(
        submit(alice, snapshot, InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data), max_rejects=2)
    )
    assert (within.status, within.result, within.records_rejected) == ("COMPLETE", "FAILURE", 3)
    assert over.status == JobStatus.ERROR
    assert over.error_message.startswith(
        "stopped: more than 2 records were rejected (the error threshold); the last, "
        "input record 5 (line 5) of 'embedded.jsonl': invalid JSON"
    )


def test_a_share_of_rejects_over_the_percentage_threshold_ends_the_job_in_error(alice, team_alpha):
    snapshot = snapshot_of(ECHO, owner=alice, team=team_alpha)
    data = "".join(f'{{"x": {i}}}\n' for i in range(9)) + "bad\n"  # 1 of 10: 10 %
    over = run(
        submit(
            alice, snapshot, InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data),
            max_rejects_percent=5,
        )
    )  # fmt: skip
    within = run(
        submit(
            alice, snapshot, InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data),
            max_rejects_percent=10,
        )
    )  # fmt: skip
    assert over.status == JobStatus.ERROR
    assert over.error_message == (
        "1 of 10 records were rejected (10 %), more than the error threshold of 5 %"
    )
    assert (within.status, within.result) == ("COMPLETE", "FAILURE")


# --- Schemas ---------------------------------------------------------------------------------

RECORD_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "inp",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "x", "type": "double"},
            {"name": "ok", "type": ["null", "boolean"]},
        ],
    }
)


def test_a_bad_csv_cell_rejects_only_its_row_not_the_rest_of_the_chunk(alice, team_alpha):
    snapshot = snapshot_of(
        ECHO, owner=alice, team=team_alpha, attachments={"in.avsc": RECORD_SCHEMA}
    )
    rows = b"id,x,ok\n1,0.5,true\n2,wide,false\n3,1.5,\nfour,2.5,true\n5,3.5,maybe\n"
    job = run(
        submit(
            alice, snapshot, uploaded(alice, "typed.csv", rows), input_schema="in.avsc",
            check_input_schema=True,
        )
    )  # fmt: skip
    assert (job.status, job.result) == (JobStatus.COMPLETE, JobResult.FAILURE)
    assert output_of(job) == [
        {"id": 1, "x": 0.5, "ok": True},
        {"id": 3, "x": 1.5, "ok": None},
    ]
    rejects = rejects_of(job)
    assert [(r["record"], r["reason"]) for r in rejects] == [
        (2, "field 'x' is 'wide' (str), expected double"),
        (4, "field 'id' is 'four' (str), expected long"),
        (5, "field 'ok' is 'maybe' (str), expected null or boolean"),
    ]


def test_an_array_input_schema_checks_each_line_whole_and_score_gets_the_array(alice, team_alpha):
    schema = json.dumps({"type": "array", "items": "double"})
    source = "# modelop.score\ndef action(datum):\n    yield {'type': type(datum).__name__, 'sum': sum(datum)}\n"
    snapshot = snapshot_of(source, owner=alice, team=team_alpha, attachments={"arr.avsc": schema})
    data = '[1.0, 2.0]\n["a", 2.0]\n[3.5]\n'
    job = run(
        submit(
            alice, snapshot, InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data),
            input_schema="arr.avsc", check_input_schema=True,
        )
    )  # fmt: skip
    assert (job.status, job.result, job.records_read) == ("COMPLETE", "FAILURE", 3)
    assert output_of(job) == [{"type": "list", "sum": 3.0}, {"type": "list", "sum": 3.5}]
    [reject] = rejects_of(job)
    assert (reject["record"], reject["data"]) == (2, ["a", 2.0])


# --- The job page ------------------------------------------------------------------------------


def test_the_job_page_shows_the_result_in_words_and_the_first_rejects_with_reasons(
    alice, team_alpha, alice_client
):
    data = '{"x": 1}\n{"x": \n{"x": 3}\n{"x": 4}\n'
    job = run(
        submit(
            alice,
            snapshot_of(ECHO, owner=alice, team=team_alpha),
            InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data),
            max_rejects=5,
        )
    )
    page = alice_client.get(job.get_absolute_url()).text

    assert "Complete" in page
    assert '<span class="result result-failure">· 1 of 4 records rejected</span>' in page
    assert "stop when more than 5 are rejected" in page
    assert "Rejected records" in page
    assert "invalid JSON at column 7: unexpected end of data" in page
    link = page.split("Download rejected records")[0].rsplit('href="', 1)[1].split('"')[0]
    download = alice_client.get(link)
    assert download.status_code == 200
    assert b"unexpected end of data" in b"".join(download.streaming_content)


def test_the_job_page_of_a_job_without_rejects_says_success(alice, team_alpha, alice_client):
    job = run(submit(alice, snapshot_of(ECHO, owner=alice, team=team_alpha), embedded({"x": 1})))
    page = alice_client.get(job.get_absolute_url()).text
    assert "Success: no record rejected" in page and "Rejected records" not in page
