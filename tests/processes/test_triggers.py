"""Triggers: a schedule polled by the real worker's own loop, new S3 objects against the test
S3 server (each handled once), a new snapshot."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from processes import bpmn
from processes.models import ProcessRun, RunStatus, Trigger
from processes.services import process_create_bpmn
from processes.triggers import triggers_poll
from tests.factories import SnapshotFactory

EMPTY = bpmn.linear_bpmn(process_id="nothing", name="Nothing", steps=[])


@pytest.fixture
def process(alice, alice_snapshot):
    return process_create_bpmn(user=alice, name="Poll", model=alice_snapshot.model, xml=EMPTY)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_due_schedule_starts_one_run_in_the_worker_and_sets_the_next_time(celery_worker, process):
    past = timezone.now() - timedelta(minutes=5)
    trigger = Trigger.objects.create(
        process=process, kind=Trigger.Kind.SCHEDULE, cron="*/10 * * * *", next_run_at=past
    )
    deadline = time.monotonic() + 30
    while not ProcessRun.objects.filter(process=process).exists():
        assert time.monotonic() < deadline, "the worker's loop started no run"
        time.sleep(0.2)
    time.sleep(3)  # more polls: still one run for that due time
    run = ProcessRun.objects.get(process=process)
    assert run.trigger_kind == Trigger.Kind.SCHEDULE
    assert run.trigger_data == {"scheduled_for": past.isoformat()}
    trigger.refresh_from_db()
    assert trigger.next_run_at > timezone.now()
    assert trigger.next_run_at.minute % 10 == 0
    deadline = time.monotonic() + 30
    while run.status != RunStatus.SUCCEEDED:  # a process with no step ends at once
        assert time.monotonic() < deadline, run.status
        time.sleep(0.2)
        run.refresh_from_db()


@pytest.mark.django_db
def test_a_new_schedule_waits_for_its_first_time(process):
    trigger = Trigger.objects.create(process=process, kind=Trigger.Kind.SCHEDULE, cron="0 6 * * 1")
    assert triggers_poll() == 0
    trigger.refresh_from_db()
    assert trigger.next_run_at.weekday() == 0 and trigger.next_run_at.hour == 6
    assert not ProcessRun.objects.exists()


@pytest.mark.django_db
def test_each_new_s3_object_starts_one_run(process, s3_server, s3_bucket, settings):
    settings.PROCESSES_POLL_SECONDS = 0  # every poll lists the prefix
    client = s3_server.client()
    connection = s3_server.connection()
    connection.save()
    client.put_object(Bucket=s3_bucket, Key="labeled/2026-01.csv", Body=b"a\n1\n")
    client.put_object(Bucket=s3_bucket, Key="other/x.csv", Body=b"a\n1\n")
    trigger = Trigger.objects.create(
        process=process, kind=Trigger.Kind.S3_OBJECTS, connection=connection,
        location=f"s3://{s3_bucket}/labeled/",
    )  # fmt: skip

    assert triggers_poll() == 1
    assert triggers_poll() == 0
    client.put_object(Bucket=s3_bucket, Key="labeled/2026-02.csv", Body=b"a\n2\n")
    assert triggers_poll() == 1

    runs = ProcessRun.objects.filter(process=process).order_by("pk")
    assert [r.trigger_data["location"] for r in runs] == [
        f"s3://{s3_bucket}/labeled/2026-01.csv",
        f"s3://{s3_bucket}/labeled/2026-02.csv",
    ]
    assert all(r.trigger_data["connection"] == connection.pk for r in runs)
    trigger.refresh_from_db()
    assert trigger.last_error == ""


@pytest.mark.django_db
def test_an_s3_trigger_on_a_missing_bucket_says_why_on_the_trigger(process, s3_server):
    connection = s3_server.connection()
    connection.save()
    trigger = Trigger.objects.create(
        process=process, kind=Trigger.Kind.S3_OBJECTS, connection=connection,
        location="s3://no-such-bucket/labeled/",
    )  # fmt: skip
    assert triggers_poll() == 0
    trigger.refresh_from_db()
    assert "bucket 'no-such-bucket' does not exist" in trigger.last_error
    assert not ProcessRun.objects.exists()


@pytest.mark.django_db
def test_a_new_snapshot_starts_a_run(process, alice_snapshot):
    Trigger.objects.create(process=process, kind=Trigger.Kind.SNAPSHOT)
    assert triggers_poll() == 0  # the snapshots there already are do not count
    v2 = SnapshotFactory(model=alice_snapshot.model, version=2)
    assert triggers_poll() == 1
    assert triggers_poll() == 0
    assert ProcessRun.objects.get().trigger_data == {"snapshot": str(v2.uuid)}


@pytest.mark.django_db
def test_a_trigger_with_a_bad_cron_or_no_connection_is_refused_in_the_admin(process):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="not a cron expression"):
        Trigger(process=process, kind=Trigger.Kind.SCHEDULE, cron="daily").full_clean()
    with pytest.raises(ValidationError, match="Choose the S3 connection"):
        Trigger(process=process, kind=Trigger.Kind.S3_OBJECTS, location="s3://b/p/").full_clean()


@pytest.mark.django_db
def test_an_s3_prefix_is_listed_at_most_every_poll_interval(process, s3_server, s3_bucket):
    connection = s3_server.connection()
    connection.save()
    Trigger.objects.create(
        process=process, kind=Trigger.Kind.S3_OBJECTS, connection=connection,
        location=f"s3://{s3_bucket}/labeled/",
    )  # fmt: skip
    assert triggers_poll() == 0
    s3_server.client().put_object(Bucket=s3_bucket, Key="labeled/a.csv", Body=b"a\n1\n")
    assert triggers_poll() == 0  # within PROCESSES_POLL_SECONDS (60) of the last listing
    assert triggers_poll(now=timezone.now() + timedelta(seconds=61)) == 1
