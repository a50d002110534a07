"""CSV inputs on Spark (jobs/spark/schemas.py): read with the job's input schema, by the
header's names, or with types from a sample; never with a pass over the input for its types,
and never with a value that does not fit its type read as a silent null."""

from __future__ import annotations

import json

import orjson
import pytest
from django.core.files.base import ContentFile

from jobs.models import JobAsset, JobStatus
from jobs.services import InputSpec, OutputSpec, job_submit, upload_create
from jobs.spark.schemas import SAMPLE_BYTES
from models_registry.services import model_create
from tests.conftest import wait_for_job
from tests.spark.test_spark_pandas import BATCH

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "inp",
        "fields": [{"name": "id", "type": "long"}, {"name": "x", "type": ["null", "double"]}],
    }
)

TYPES = """\
# moc.batch: true
import pandas as pd

# modelop.score
def action(frame):
    yield pd.DataFrame({"id": frame["id"], "y": frame["x"] * 2, "dtype": str(frame["x"].dtype)})
"""


def _snapshot(source, *, owner, team, attachments=None):
    files = [ContentFile(text.encode(), name=name) for name, text in (attachments or {}).items()]
    return model_create(
        owner=owner, team=team, name="csv-model", source_name="model.py", source=source,
        attachments=files,
    ).latest_snapshot()  # fmt: skip


def _upload(owner, name: str, text: str) -> InputSpec:
    upload = upload_create(owner=owner, content=ContentFile(text.encode(), name=name))
    return InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload, format="csv")


def _submit(user, snapshot, runtime, inputs, **options):
    job = job_submit(
        user=user, snapshot=snapshot, runtime=runtime, inputs=inputs,
        output=OutputSpec(name="out.jsonl", format="jsonl"), **options,
    )  # fmt: skip
    return wait_for_job(job, timeout=300)


def _lines(job) -> list[dict]:
    with job.output_asset().file.open("rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


def _rejects(job) -> list[dict]:
    with job.output_asset().rejects_file.open("rb") as f:
        return [orjson.loads(line) for line in f]


def test_a_csv_with_an_input_schema_is_read_by_header_names_with_the_schemas_types(
    spark_runtime, alice, team_alpha
):
    # The header names the columns in another order than the schema, and one it lacks, whose
    # quoted values Spark types (from the sample: no pass over the input either).
    snapshot = _snapshot(BATCH, owner=alice, team=team_alpha, attachments={"in.avsc": SCHEMA})
    data = "x,note,id\n" + "".join(f'{i / 10},"n {i}, a note",{i}\n' for i in range(1, 301))

    job = _submit(alice, snapshot, spark_runtime, [_upload(alice, "in.csv", data)],
                  input_schema="in.avsc")  # fmt: skip

    assert job.status == JobStatus.COMPLETE, job.log[-3000:]
    assert job.result == "SUCCESS" and job.records_written == 300
    out = _lines(job)
    assert {r["id"]: r["double"] for r in out} == {i: i / 10 * 2.0 for i in range(1, 301)}
    assert all(type(r["id"]) is int for r in out)
    assert (
        "CSV 'in.csv' read as x double, note string, id bigint; types from the input schema "
        "in.avsc (x, id) and the first 1 MiB of each file (note)"
    ) in job.log


def test_a_value_past_the_sample_that_does_not_fit_is_a_reject_naming_its_field(
    spark_runtime, alice, team_alpha
):
    # Whole numbers for more than the sample, then a float and a word: the column is read as
    # long, and those two records are rejects that say which field and what to do, not nulls.
    rows = [f"{i},{i % 97}\n" for i in range(1, SAMPLE_BYTES // 8)]
    good = len(rows)
    rows[good - 3] = f"{good - 2},1.5\n"
    rows[good - 2] = f"{good - 1},abc\n"
    snapshot = _snapshot(TYPES, owner=alice, team=team_alpha)

    job = _submit(
        alice, snapshot, spark_runtime, [_upload(alice, "big.csv", "id,x\n" + "".join(rows))]
    )

    assert job.status == JobStatus.COMPLETE, job.log[-3000:]
    assert job.result == "FAILURE"
    assert (job.records_read, job.records_written, job.records_rejected) == (good, good - 2, 2)
    out = _lines(job)
    assert {r["dtype"] for r in out} == {"int64"}
    assert {r["id"]: r["y"] for r in out} == {
        i: 2 * (i % 97) for i in range(1, good + 1) if i not in (good - 2, good - 1)
    }
    first, second = _rejects(job)
    assert (first["asset"], first["record"], first["data"]) == (
        "big.csv",
        good - 2,
        f"{good - 2},1.5",
    )
    assert first["reason"] == (
        "field 'x' is '1.5', not a long as its values in the first 1 MiB of each file were; "
        "attach an input schema (.avsc) that gives 'x' the type double, and choose it for the job"
    )
    assert (second["asset"], second["record"]) == ("big.csv", good - 1)
    assert "field 'x' is 'abc', not a long" in second["reason"]
    assert "the type string" in second["reason"]


def test_whole_numbers_stay_integers_and_files_are_read_by_their_own_headers(
    spark_runtime, alice, team_alpha
):
    snapshot = _snapshot(TYPES, owner=alice, team=team_alpha)
    first = "id,x\n" + "".join(f"{i},{i * 3}\n" for i in range(1, 101))
    second = "x,id\n" + "".join(f"{i * 3},{i}\n" for i in range(101, 151))
    inputs = [_upload(alice, "a.csv", first), _upload(alice, "b.csv", second)]

    job = _submit(alice, snapshot, spark_runtime, inputs)

    assert job.status == JobStatus.COMPLETE, job.log[-3000:]
    assert job.result == "SUCCESS" and job.records_written == 150
    out = _lines(job)
    assert {r["dtype"] for r in out} == {"int64"}
    assert {r["id"]: r["y"] for r in out} == {i: 6 * i for i in range(1, 151)}
    assert all(type(r["id"]) is int and type(r["y"]) is int for r in out)
