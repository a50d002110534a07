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
    snapshot = snapshot_of(PER_RECORD, owner=alice, team=team_alpha)
    data = "".join(f'{{"id": {i}}}\n' for i in range(1, 51))

    job = wait_for_job(submit(alice, snapshot, spark_runtime, data), timeout=120)

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
