"""The job's own events in its log, written by the supervisor with their times."""

from __future__ import annotations

import re

import pytest

from jobs.models import JobStatus
from jobs.views.pages import _job_events
from jobs.worker.supervisor import job_execute
from tests.demo import demo_snapshot
from tests.jobs.test_executor_supervisor import PRINTS, embedded, snapshot_of, submit

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


def test_the_log_holds_the_jobs_events_in_order_from_queued_to_committed(alice, team_alpha, client):
    """Queued (at the time it was queued), claimed, the model's own lines, output committed:
    in the log in that order, each with its time; the job page lists each event once."""
    snapshot = snapshot_of(PRINTS, owner=alice, team=team_alpha)
    job = submit(alice, snapshot, embedded({"x": 1}, {"x": 2}))

    job_execute(job_uuid=str(job.uuid), worker="w1@host")

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message
    lines = job.log.splitlines()
    stamped = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\] (.*)$")
    events = [m[1] for line in lines if (m := stamped.match(line))]
    assert events[0].startswith("queued on ")
    assert events[1].startswith("claimed by worker w1@host")
    assert events[-1] == "output committed: 2 records written"
    assert lines[-1].endswith("output committed: 2 records written")
    loaded = lines.index(next(line for line in lines if line.endswith("  model loaded")))
    claimed = lines.index(next(line for line in lines if "claimed by worker" in line))
    assert re.match(r"^\d\d:\d\d:\d\d\.\d{3}  model loaded$", lines[loaded])
    assert claimed < loaded < len(lines) - 1
    shown = [text for _, text in _job_events(job)]  # the job page's list of events
    assert sum(text.startswith("queued") for text in shown) == 1
    assert shown[-2:] == ["output committed: 2 records written", "complete"]
    client.force_login(alice)
    assert client.get(job.get_absolute_url()).status_code == 200
