"""A model environment through a real Celery worker process: the worker builds it with uv
(into its own MODEL_ENV_DIR), the job page shows the build while it runs, and the sandboxed
model process imports the environment's pandas."""

from __future__ import annotations

import time

import orjson
import pytest
from django.core.files.base import ContentFile

from jobs.models import JobAsset, JobStatus
from jobs.services import InputSpec, job_submit
from jobs.worker.envs import Environment, environment_key, requirements_normalise
from models_registry.services import model_create

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

REQUIREMENTS = "pandas==1.5.3\nnumpy<2\n"
SOURCE = """\
import pandas


# modelop.score
def action(datum):
    yield {"id": datum["id"], "pandas": pandas.__version__}
"""


def test_a_real_worker_builds_the_environment_and_the_model_runs_in_it(
    celery_worker, alice, team_alpha
):
    env = Environment(environment_key(requirements_normalise(REQUIREMENTS)))
    built_before = env.is_ready()  # the worker's folder (the same DATA_DIR as this process)
    model = model_create(
        owner=alice, team=team_alpha, name="pinned-pandas", source_name="model.py",
        source=SOURCE, attachments=[ContentFile(REQUIREMENTS.encode(), name="requirements.txt")],
    )  # fmt: skip
    job = job_submit(
        user=alice,
        snapshot=model.latest_snapshot(),
        inputs=[InputSpec(kind=JobAsset.Kind.EMBEDDED, data='{"id": 1}\n')],
    )

    shown_while_running = False
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status == JobStatus.RUNNING and "preparing the model's environment" in job.log:
            shown_while_running = True
        if job.is_terminal:
            break
        time.sleep(0.1)

    assert job.status == JobStatus.COMPLETE, f"{job.error_message}\n{job.log}"
    with job.output_asset().file.open("rb") as f:
        assert orjson.loads(f.readline())["pandas"] == "1.5.3"
    assert "preparing the model's environment" in job.log
    assert shown_while_running or built_before  # a build takes seconds: its log is live
    assert env.is_ready()
