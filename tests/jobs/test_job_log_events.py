"""The job's own events in its log, written by the supervisor with their times."""

from __future__ import annotations

import re

import pytest

from jobs.models import JobStatus
from jobs.worker.supervisor import job_execute
from tests.demo import demo_snapshot
from tests.jobs.test_executor_supervisor import embedded, submit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def executor_settings(in_process_executor):
    return in_process_executor


def test_the_log_says_when_a_worker_claimed_the_job_and_started_the_model(alice, team_alpha):
    job = submit(alice, demo_snapshot(owner=alice, team=team_alpha), embedded({"id": 1}))

    job_execute(job_uuid=str(job.uuid), worker="w1@host")

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message
    stamp = r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\]"
    pattern = stamp + r" claimed by worker w1@host \(attempt 1\); inputs staged; starting the model"
    assert re.search(pattern, job.log), job.log
