"""A metrics job through a real Celery worker: the built-in evaluator on a labeled CSV whose
column roles come from an Avro schema attached to the snapshot."""

from __future__ import annotations

import json

import orjson
import pandas as pd
import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from sklearn import metrics

from jobs.models import JobAsset, JobStatus, Upload
from jobs.services import InputSpec, job_submit
from models_registry.services import model_create
from tests.conftest import wait_for_job

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SOURCE = """\
# modelop.score
def score(datum):
    yield {**datum, "predicted": int(datum["x"] > 4)}
"""

SCHEMA = {
    "type": "record",
    "name": "loan",
    "fields": [
        {"name": "id", "type": "int", "role": "identifier"},
        {"name": "x", "type": "double", "role": "predictor"},
        {"name": "sex", "type": "string", "role": "predictor", "protectedClass": True},
        {"name": "approved", "type": "int", "role": "label"},
        {"name": "predicted", "type": "int", "role": "score"},
        {"name": "probability", "type": "double"},
    ],
}


def _labeled() -> pd.DataFrame:
    rows = []
    for i in range(40):
        x = (i * 7) % 10
        rows.append(
            {
                "id": i,
                "x": float(x),
                "sex": "f" if i % 3 == 0 else "m",
                "approved": int(x > 4) if i % 5 else int(x <= 4),  # every 5th is wrong
                "predicted": int(x > 4),
                "probability": round(0.05 + x / 10, 2),
            }
        )
    return pd.DataFrame(rows)


def _snapshot(alice, team_alpha, source=SOURCE):
    model = model_create(
        owner=alice,
        team=team_alpha,
        name="loans",
        source_name="loan_model.py",
        source=source,
        attachments=[ContentFile(json.dumps(SCHEMA).encode(), name="loan.avsc")],
    )
    return model.latest_snapshot()


def _upload(alice, frame: pd.DataFrame) -> Upload:
    content = frame.to_csv(index=False).encode()
    upload = Upload(owner=alice, name="labeled.csv", size=len(content))
    upload.file.save("labeled.csv", ContentFile(content), save=False)
    upload.save()
    return upload


def test_metrics_job_stores_the_evaluation_in_job_metrics(celery_worker, alice, team_alpha):
    frame = _labeled()
    job = wait_for_job(
        job_submit(
            user=alice,
            snapshot=_snapshot(alice, team_alpha),
            job_type="metrics",
            inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=_upload(alice, frame))],
            input_schema="loan.avsc",
            params={"evaluator": True, "probability_column": "probability"},
        )
    )

    assert job.status == JobStatus.COMPLETE, job.error_message
    assert (job.records_read, job.records_written) == (40, 1)
    result = job.metrics
    y, p, prob = frame["approved"], frame["predicted"], frame["probability"]
    assert result["accuracy"] == pytest.approx(metrics.accuracy_score(y, p))
    assert result["precision"] == pytest.approx(metrics.precision_score(y, p))
    assert result["recall"] == pytest.approx(metrics.recall_score(y, p))
    assert result["f1_score"] == pytest.approx(metrics.f1_score(y, p))
    assert result["auc"] == pytest.approx(metrics.roc_auc_score(y, prob))
    assert result["log_loss"] == pytest.approx(metrics.log_loss(y, prob))
    assert result["labels"] == [0, 1] and result["positive_label"] == 1
    matrix = metrics.confusion_matrix(y, p, labels=[0, 1])
    assert result["confusion_matrix"] == [
        {"0": int(matrix[0][0]), "1": int(matrix[0][1])},
        {"0": int(matrix[1][0]), "1": int(matrix[1][1])},
    ]
    assert result["roc_curve"][0] == {"fpr": 0.0, "tpr": 0.0}
    assert {"precision", "recall"} == set(result["precision_recall_curve"][0])

    by_group = {row["group"]: row for row in result["bias"]}
    assert set(by_group) == {"f", "m"}
    women = frame[frame["sex"] == "f"]
    assert by_group["f"]["count"] == len(women) == 14
    assert by_group["f"]["positive_rate"] == pytest.approx((women["predicted"] == 1).mean())
    assert by_group["f"]["reference_group"] == "m"

    importance = result["interpretability"]["feature_importance"]
    assert [f["feature"] for f in importance][0] == "x"
    assert importance[0]["importance"] > 0.2
    assert {f["feature"] for f in importance} == {"x", "sex"}

    with job.output_asset().file.open("rb") as f:
        assert [orjson.loads(line) for line in f] == [result]


def test_metrics_job_with_the_model_metrics_function_stores_its_dicts(
    celery_worker, alice, team_alpha
):
    source = SOURCE + (
        "\n# modelop.metrics\n"
        "def metrics(df):\n"
        "    yield {'rows': len(df)}\n"
        "    yield {'approved': int(df['approved'].sum())}\n"
    )
    frame = _labeled()
    job = wait_for_job(
        job_submit(
            user=alice,
            snapshot=_snapshot(alice, team_alpha, source),
            job_type="metrics",
            inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=_upload(alice, frame))],
        )
    )
    assert job.status == JobStatus.COMPLETE, job.error_message
    assert job.metrics == [{"rows": 40}, {"approved": int(frame["approved"].sum())}]


def test_a_model_without_metrics_function_needs_the_evaluator(alice, team_alpha):
    with pytest.raises(ValidationError, match="no metrics function"):
        job_submit(
            user=alice,
            snapshot=_snapshot(alice, team_alpha),
            job_type="metrics",
            inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=_upload(alice, _labeled()))],
        )
