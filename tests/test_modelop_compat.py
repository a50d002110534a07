"""ModelOp models unchanged: FastScore tags and .py3 sources, init's job JSON as ModelOp's."""

from __future__ import annotations

import json

import orjson
import pytest
from django.core.files.base import ContentFile

from jobs.models import JobStatus
from jobs.worker.supervisor import job_execute
from models_registry.services import model_create
from tests.jobs.test_executor_supervisor import embedded, submit

pytestmark = pytest.mark.django_db(transaction=True)

INPUT_SCHEMA = {
    "type": "record",
    "name": "applicant",
    "fields": [
        {"name": "id", "type": "int", "role": "identifier"},
        {"name": "income", "type": "double", "role": "predictor", "dataClass": "numerical",
         "driftCandidate": True},
        {"name": "gender", "type": "string", "role": "predictor", "dataClass": "categorical",
         "protectedClass": True},
    ],
}  # fmt: skip

FASTSCORE_PY3 = """\
# fastscore.schema.0: applicant.avsc
import json

# fastscore.begin
def begin(job):
    global seen
    seen = json.loads(job["rawJson"])

# fastscore.action
def action(datum):
    model = seen["referenceModel"]["storedModel"]["modelMetaData"]
    fields = model["inputSchema"][0]["schemaDefinition"]["fields"]
    yield {
        "id": datum["id"],
        "jobType": seen["jobType"],
        "threshold": seen["jobParameters"]["threshold"],
        "input": seen["inputData"][0],
        "output": seen["outputData"][0],
        "protected": [f["name"] for f in fields if f.get("protectedClass")],
        "old_keys": sorted(k for k in ("jobParameters", "inputData") if k in seen),
    }
"""


def test_a_fastscore_py3_model_runs_and_reads_modelops_job_json_in_init(
    in_process_executor, alice, team_alpha
):
    snapshot = model_create(
        owner=alice, team=team_alpha, name="fastscore", source_name="model.py3",
        source=FASTSCORE_PY3,
        attachments=[ContentFile(json.dumps(INPUT_SCHEMA).encode(), name="applicant.avsc")],
    ).latest_snapshot()  # fmt: skip
    job = submit(
        alice, snapshot, embedded({"id": 1, "income": 1.0, "gender": "f"}),
        params={"threshold": 0.7},
    )  # fmt: skip

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message + job.log
    with job.output_asset().file.open("rb") as f:
        (record,) = [orjson.loads(line) for line in f]
    assert record["jobType"] == "MODEL_BATCH_JOB"
    assert record["threshold"] == 0.7
    assert record["input"]["assetRole"] == "INPUT_DATA"
    assert record["input"]["fileFormat"] == "JSON"
    assert record["output"]["assetRole"] == "OUTPUT_DATA"
    assert record["protected"] == ["gender"]
    assert record["old_keys"] == ["inputData", "jobParameters"]


DRIFT_MONITOR = """\
import json
from modelop.monitors.drift import DriftDetector
from modelop.monitors.stability import StabilityMonitor
from modelop.utils import merge

# modelop.init
def init(job):
    global job_json
    job_json = job

# modelop.metrics
def metrics(df_baseline, df_sample):
    drift = DriftDetector(df_baseline=df_baseline, df_sample=df_sample,
                          numerical_columns=["x"], categorical_columns=[])
    yield merge(
        drift.calculate_drift(pre_defined_test="Kolmogorov-Smirnov"),
        {"rows": [len(df_baseline), len(df_sample)]},
    )
"""


def test_a_metrics_function_of_two_parameters_gets_the_baseline_and_the_sample_at_once(
    in_process_executor, alice, team_alpha
):
    from scipy import stats

    from tests.jobs.test_executor_supervisor import snapshot_of

    baseline = [{"x": float(i % 10)} for i in range(200)]
    sample = [{"x": float(i % 10) + 3} for i in range(150)]
    snapshot = snapshot_of(DRIFT_MONITOR, owner=alice, team=team_alpha)
    job = submit(alice, snapshot, embedded(*baseline), embedded(*sample), job_type="metrics")

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message + job.log
    metrics = job.metrics if isinstance(job.metrics, dict) else job.metrics[0]
    assert metrics["rows"] == [200, 150]
    expected = stats.ks_2samp([r["x"] for r in baseline], [r["x"] for r in sample])
    assert metrics["x_ks_pvalue"] == pytest.approx(expected.pvalue)
    assert [t["test_category"] for t in metrics["data_drift"]] == ["data_drift"]


def test_a_two_input_metrics_function_on_a_one_input_job_says_what_it_needs(
    in_process_executor, alice, team_alpha
):
    from tests.jobs.test_executor_supervisor import snapshot_of

    snapshot = snapshot_of(DRIFT_MONITOR, owner=alice, team=team_alpha)
    job = submit(alice, snapshot, embedded({"x": 1.0}), job_type="metrics")

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.ERROR
    assert "takes 2 inputs (one DataFrame each, e.g. a baseline and a sample)" in job.error_message


ROLES_MODEL = """\
import json

# modelop.init
def init(job):
    global roles
    roles = [item["assetRole"] for item in json.loads(job["rawJson"])["inputData"]]

# modelop.metrics
def metrics(df_a, df_b):
    yield {"roles": roles}
"""


def test_input_roles_reach_the_model_and_show_on_the_job_page(
    in_process_executor, alice, team_alpha, alice_client
):
    from tests.jobs.test_executor_supervisor import snapshot_of

    snapshot = snapshot_of(ROLES_MODEL, owner=alice, team=team_alpha)
    first, second = embedded({"x": 1}), embedded({"x": 2})
    first.role, second.role = "comparator_data", ""
    job = submit(alice, snapshot, first, second, job_type="metrics")

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message
    # Given, and the default for a second input of a metrics job.
    assert job.metrics["roles"] == ["COMPARATOR_DATA", "SAMPLE_DATA"]
    assert "COMPARATOR_DATA" in alice_client.get(job.get_absolute_url()).text


def test_a_role_that_is_no_name_is_refused_in_the_api(alice_client, alice_snapshot):
    response = alice_client.post(
        "/api/jobs/",
        {
            "snapshot": str(alice_snapshot.uuid),
            "inputs": [{"kind": "embedded", "data": '{"x": 1}\n', "role": "DROP TABLE x"}],
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "An asset role is a name in capitals" in response.text


SLOTTED = """\
# modelop.slot.0: in-use
# modelop.slot.2: in-use
# modelop.slot.1: in-use

# modelop.score
def action(datum, slot):
    yield {"id": datum["id"], "slot": slot}
"""


def test_a_score_function_of_two_parameters_gets_each_record_with_its_slot(
    in_process_executor, alice, team_alpha
):
    from tests.jobs.test_executor_supervisor import snapshot_of

    snapshot = snapshot_of(SLOTTED, owner=alice, team=team_alpha)
    job = submit(alice, snapshot, embedded({"id": 1}, {"id": 2}), embedded({"id": 3}))

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message
    with job.output_asset().file.open("rb") as f:
        records = [orjson.loads(line) for line in f]
    assert records == [{"id": 1, "slot": 0}, {"id": 2, "slot": 0}, {"id": 3, "slot": 2}]
