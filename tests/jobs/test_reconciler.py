"""One reconciler pass against the real database and broker (no worker consumes the test's
own queue, so the messages it sends stay there to be counted)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from commandcenter.celery import app
from jobs.models import Job, JobAsset, JobStatus, Runtime, Worker
from jobs.worker import reconciler
from jobs.worker.heartbeat import job_in_hand_add, job_in_hand_remove, jobs_in_hand
from jobs.worker.reconciler import lost_notes, reconcile

pytestmark = pytest.mark.django_db(transaction=True)

LONG_AGO = timedelta(hours=1)


@pytest.fixture
def runtime():
    """A runtime on a queue of this test's own, emptied afterwards."""
    queue = f"reconcile-{uuid.uuid4().hex[:8]}"
    runtime = Runtime.objects.create(name=queue, queue=queue, max_attempts=3)
    yield runtime
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)


@pytest.fixture
def sent(monkeypatch):
    """What the reconciler sends, instead of the broker (for the RUNNING-job tests)."""
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(
        "jobs.services.placement.job_enqueue",
        lambda *, job_uuid, queue: calls.append((str(job_uuid), queue)) or True,
    )
    return calls


def make_job(snapshot, user, runtime, **fields) -> Job:
    job = Job.objects.create(snapshot=snapshot, created_by=user, runtime=runtime, **fields)
    JobAsset.objects.create(job=job, direction="in", kind="embedded", data='{"x": 1}\n')
    JobAsset.objects.create(job=job, direction="out", kind="embedded", name="output.jsonl")
    return job


def running(snapshot, user, runtime, *, worker="w1@host", attempts=1, ago=LONG_AGO) -> Job:
    """A job claimed AGO by WORKER, with its last progress then."""
    then = timezone.now() - ago
    job = make_job(
        snapshot, user, runtime, status=JobStatus.RUNNING, worker=worker, attempts=attempts,
        started_at=then, progress_at=then, log="scoring...\n",
    )  # fmt: skip
    Job.objects.filter(pk=job.pk).update(updated_at=then)
    return job


def beat(name, *, ago=timedelta(0), stopped=False, started=LONG_AGO * 2) -> Worker:
    now = timezone.now()
    return Worker.objects.create(
        name=name,
        last_seen_at=now - ago,
        started_at=now - started,
        stopped_at=now if stopped else None,
    )


def queued(queue: str) -> int:
    return reconciler._queued_messages(queue)


# --- WAITING jobs ----------------------------------------------------------------------------


def test_a_waiting_job_whose_message_is_lost_is_sent_again_once(alice_snapshot, alice, runtime):
    job = make_job(
        alice_snapshot, alice, runtime,
        status=JobStatus.WAITING, enqueued_at=timezone.now() - LONG_AGO,
    )  # fmt: skip
    assert queued(runtime.queue) == 0  # e.g. Redis was flushed

    assert reconcile()["resent"] == 1
    assert reconcile()["resent"] == 0  # just sent: a second reconciler does not send it too

    assert queued(runtime.queue) == 1
    job.refresh_from_db()
    assert timezone.now() - job.enqueued_at < timedelta(seconds=10)


def test_a_waiting_job_whose_message_is_still_queued_is_not_sent_again(
    alice_snapshot, alice, runtime
):
    job = make_job(alice_snapshot, alice, runtime, status=JobStatus.WAITING)
    from jobs.services import job_enqueue

    job_enqueue(job_uuid=job.uuid, queue=runtime.queue)  # a long queue: it waits its turn
    Job.objects.filter(pk=job.pk).update(enqueued_at=timezone.now() - LONG_AGO)

    assert reconcile()["resent"] == 0
    assert queued(runtime.queue) == 1


def test_a_job_never_sent_is_sent_once_it_is_not_new(alice_snapshot, alice, runtime):
    job = make_job(alice_snapshot, alice, runtime, status=JobStatus.WAITING)
    assert reconcile()["resent"] == 0  # just submitted: its message is on its way

    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - LONG_AGO)

    assert reconcile()["resent"] == 1
    assert queued(runtime.queue) == 1


def test_a_waiting_job_with_no_runtime_is_placed(alice_snapshot, alice, monkeypatch):
    placed = []
    monkeypatch.setattr(
        "jobs.services.placement.job_place", lambda *, job: placed.append(job.pk) or True
    )
    job = make_job(alice_snapshot, alice, None, status=JobStatus.WAITING)

    assert reconcile()["placed"] == 1
    assert placed == [job.pk]


# --- RUNNING jobs ----------------------------------------------------------------------------


def test_a_running_job_of_an_offline_worker_is_started_again(
    alice_snapshot, alice, runtime, sent, settings
):
    job = running(alice_snapshot, alice, runtime, worker="w1@host")
    beat("w1@host", ago=timedelta(seconds=settings.WORKER_OFFLINE_SECONDS + 1))

    assert reconcile()["restarted"] == 1

    job.refresh_from_db()
    assert job.status == JobStatus.WAITING
    assert job.attempts == 1  # the next claim counts attempt 2
    assert re.fullmatch(
        r"scoring...\n\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\] "
        r"worker w1@host was lost; starting again \(attempt 2 of 3\)\n",
        job.log,
    ), job.log
    assert sent == [(str(job.uuid), runtime.queue)]
    assert reconcile()["restarted"] == 0


def test_a_running_job_of_a_stopped_worker_is_started_again(alice_snapshot, alice, runtime, sent):
    job = running(alice_snapshot, alice, runtime, worker="w1@host")
    beat("w1@host", stopped=True)

    assert reconcile()["restarted"] == 1
    assert Job.objects.get(pk=job.pk).status == JobStatus.WAITING


def test_a_running_job_of_a_worker_restarted_since_its_claim_is_started_again(
    alice_snapshot, alice, runtime, sent
):
    # The same name (a restarted service), a new process: the claimant is gone.
    job = running(alice_snapshot, alice, runtime, worker="w1@host", ago=timedelta(seconds=60))
    beat("w1@host", started=timedelta(seconds=5))

    assert reconcile()["restarted"] == 1
    assert Job.objects.get(pk=job.pk).status == JobStatus.WAITING


def test_running_jobs_of_live_or_stale_workers_are_left_alone(
    alice_snapshot, alice, runtime, sent, settings
):
    online = running(alice_snapshot, alice, runtime, worker="online@host")
    stale = running(alice_snapshot, alice, runtime, worker="stale@host")
    beat("online@host")
    beat("stale@host", ago=timedelta(seconds=settings.WORKER_STALE_SECONDS + 1))

    assert reconcile() == {
        "resent": 0, "placed": 0, "restarted": 0, "failed": 0, "given_back": 0
    }  # fmt: skip
    assert {j.status for j in Job.objects.filter(pk__in=[online.pk, stale.pk])} == {"RUNNING"}
    assert sent == []


def test_a_running_job_with_no_heartbeat_row_is_judged_by_its_progress(
    alice_snapshot, alice, runtime, sent, settings
):
    busy = running(alice_snapshot, alice, runtime, worker="a@host", ago=timedelta(seconds=1))
    silent = running(alice_snapshot, alice, runtime, worker="b@host")

    assert reconcile()["restarted"] == 1

    assert Job.objects.get(pk=busy.pk).status == JobStatus.RUNNING
    assert Job.objects.get(pk=silent.pk).status == JobStatus.WAITING


def test_a_job_whose_worker_was_lost_max_attempts_times_ends_in_error(
    alice_snapshot, alice, runtime, sent
):
    job = running(alice_snapshot, alice, runtime, worker="w3@host", attempts=3)
    beat("w3@host", stopped=True)

    assert reconcile()["failed"] == 1

    job.refresh_from_db()
    assert job.status == JobStatus.ERROR
    assert job.error_message == "the worker running it was lost 3 times (last: w3@host)"
    assert job.finished_at is not None
    assert sent == []


def test_a_running_job_this_worker_no_longer_has_in_hand_is_given_back_at_once(
    alice_snapshot, alice, runtime, sent, monkeypatch
):
    # Its supervisor returned (a database error, say) and left the job RUNNING: its worker is
    # alive and beating, so only the worker itself can tell.
    monkeypatch.setattr(reconciler, "_own_name", "me@host")
    beat("me@host")
    dropped = running(alice_snapshot, alice, runtime, worker="me@host", ago=timedelta(0))
    held = running(alice_snapshot, alice, runtime, worker="me@host", ago=timedelta(0))
    other = running(alice_snapshot, alice, runtime, worker="other@host", ago=timedelta(0))
    beat("other@host")
    job_in_hand_add(held.uuid)
    try:
        done = reconcile()
    finally:
        job_in_hand_remove(held.uuid)

    assert done["given_back"] == 1 and done["restarted"] == 0
    dropped.refresh_from_db()
    assert dropped.status == JobStatus.WAITING
    assert dropped.log.endswith(
        "worker me@host dropped it (its supervisor ended without finishing it); starting "
        "again (attempt 2 of 3)\n"
    )
    assert sent == [(str(dropped.uuid), runtime.queue)]
    assert {Job.objects.get(pk=j.pk).status for j in (held, other)} == {"RUNNING"}
    assert lost_notes(dropped.log) == [dropped.log.strip().splitlines()[-1]]


def test_a_duplicate_message_ending_does_not_take_the_job_out_of_its_workers_hands():
    job_in_hand_add("j1")  # the task running it
    job_in_hand_add("j1")  # a duplicate delivery, which does not claim it and ends
    job_in_hand_remove("j1")

    assert jobs_in_hand() == ["j1"]
    job_in_hand_remove("j1")
    assert jobs_in_hand() == []


def test_the_job_page_shows_the_attempts(alice_snapshot, alice, alice_client, runtime):
    job = running(alice_snapshot, alice, runtime, attempts=2)

    page = alice_client.get(reverse("jobs-detail", args=[job.uuid])).content.decode()

    assert "<dt>Attempts</dt><dd>2 of at most 3</dd>" in page


def test_lost_notes_are_read_back_from_a_log_once_each():
    note1 = "worker a@h was lost; starting again (attempt 2 of 3)"
    note2 = "worker b@h was lost; starting again (attempt 3 of 3)"
    log = f"x\n{note1}\ny\n{note1}\n{note2}\nthe worker was lost, said the model\n"

    assert lost_notes(log) == [note1, note2]
