"""Placement: "let the system choose" picks an online runtime whose tags cover the
snapshot's, least loaded first; a job no runtime can take waits, with the reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from jobs.models import Job, JobAsset, JobStatus, Runtime, Worker
from jobs.services import InputSpec, job_place, job_submit, runtime_choose
from models_registry.models import Snapshot
from tests.factories import SnapshotFactory

EMBEDDED = InputSpec(kind=JobAsset.Kind.EMBEDDED, data='{"x": 1}\n')


@pytest.fixture(autouse=True)
def no_workers(db):
    """Only the workers a test makes (a test worker of the session may have beaten)."""
    Worker.objects.all().delete()


def runtime(name: str, tags=()) -> Runtime:
    return Runtime.objects.create(name=name, queue=name, tags=list(tags))


def beat(rt: Runtime, *, name: str = "", concurrency: int = 2, age: float = 0, stopped=False):
    now = timezone.now()
    return Worker.objects.create(
        name=name or f"{rt.name}@host",
        runtime=rt,
        queue=rt.queue,
        concurrency=concurrency,
        last_seen_at=now - timedelta(seconds=age),
        stopped_at=now if stopped else None,
    )


def needing(snapshot: Snapshot, *tags: str) -> Snapshot:
    Snapshot.objects.filter(pk=snapshot.pk).update(runtime_tags=list(tags))
    snapshot.refresh_from_db()
    return snapshot


def running_jobs(rt: Runtime, snapshot: Snapshot, user, n: int, status=JobStatus.RUNNING):
    for _ in range(n):
        Job.objects.create(snapshot=snapshot, runtime=rt, created_by=user, status=status)


def test_choose_picks_a_runtime_whose_tags_include_the_snapshots(alice_snapshot):
    beat(runtime("dev", ["DEV"]))
    gpu = runtime("gpu-1", ["PROD", "gpu"])
    beat(gpu, concurrency=4)
    chosen, reason = runtime_choose(snapshot=needing(alice_snapshot, "prod", "GPU"))
    assert chosen == gpu
    assert reason == "chosen automatically: gpu-1 (tags PROD, gpu; 0 of 4 slots busy)"


def test_choose_takes_the_least_loaded_runtime_then_the_first_name(alice, alice_snapshot):
    a, b, c = runtime("a", ["PROD"]), runtime("b", ["PROD"]), runtime("c", ["PROD"])
    beat(a, concurrency=2)
    beat(b, concurrency=4)
    beat(c, concurrency=4)
    running_jobs(a, alice_snapshot, alice, 1)  # 1/2 busy
    running_jobs(b, alice_snapshot, alice, 1)  # 1/4
    running_jobs(c, alice_snapshot, alice, 1, status=JobStatus.WAITING)  # 1/4, queued
    running_jobs(c, alice_snapshot, alice, 3, status=JobStatus.COMPLETE)  # no load
    chosen, reason = runtime_choose(snapshot=needing(alice_snapshot, "PROD"))
    assert chosen == b and reason.endswith("(tags PROD; 1 of 4 slots busy)")
    running_jobs(b, alice_snapshot, alice, 1)
    chosen, reason = runtime_choose(snapshot=alice_snapshot)
    assert chosen == c and reason.endswith("(tags PROD; 0 of 4 slots busy, 1 queued)")


def test_choose_adds_up_the_slots_of_a_runtimes_online_workers(alice, alice_snapshot):
    one, two = runtime("one"), runtime("two")
    beat(one, concurrency=2)
    beat(two, name="two@a", concurrency=2)
    beat(two, name="two@b", concurrency=2)
    beat(two, name="two@gone", concurrency=50, age=3600)
    running_jobs(one, alice_snapshot, alice, 1)
    running_jobs(two, alice_snapshot, alice, 1)
    chosen, reason = runtime_choose(snapshot=alice_snapshot)
    assert chosen == two and reason == "chosen automatically: two (no tags; 1 of 4 slots busy)"


def test_choose_ignores_stale_offline_and_stopped_workers(alice_snapshot, settings):
    beat(runtime("stale", ["PROD"]), age=settings.WORKER_STALE_SECONDS + 1)
    beat(runtime("offline", ["PROD"]), age=settings.WORKER_OFFLINE_SECONDS + 1)
    beat(runtime("stopped", ["PROD"]), stopped=True)
    assert runtime_choose(snapshot=needing(alice_snapshot, "PROD", "gpu")) == (
        None,
        "no online runtime with tags PROD, gpu",
    )
    assert runtime_choose(snapshot=needing(alice_snapshot)) == (None, "no online runtime")


def test_a_job_no_runtime_can_take_waits_unqueued_with_the_reason(
    alice, alice_snapshot, queued, django_capture_on_commit_callbacks
):
    beat(runtime("dev", ["DEV"]))
    with django_capture_on_commit_callbacks(execute=True):
        job = job_submit(user=alice, snapshot=needing(alice_snapshot, "PROD"), inputs=[EMBEDDED])
    job.refresh_from_db()
    assert (job.status, job.runtime, job.runtime_auto) == (JobStatus.WAITING, None, True)
    assert job.placement == "no online runtime with tags PROD" and queued == []


def test_job_place_queues_a_waiting_job_once_a_fitting_worker_beats(
    alice, alice_snapshot, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = job_submit(user=alice, snapshot=needing(alice_snapshot, "PROD"), inputs=[EMBEDDED])
    assert job_place(job=job) is False and queued == []
    prod = runtime("prod", ["PROD"])
    beat(prod, stopped=True)
    assert job_place(job=job) is False
    beat(prod, name="prod@other")
    with django_capture_on_commit_callbacks(execute=True):
        assert job_place(job=job) is True
    job.refresh_from_db()
    assert job.runtime == prod and job.status == JobStatus.WAITING
    assert job.placement == "chosen automatically: prod (tags PROD; 0 of 2 slots busy)"
    assert queued == [(job.uuid, "prod")]
    assert job_place(job=job) is False and len(queued) == 1  # placed once


def test_job_place_leaves_a_cancelled_job_alone(alice, alice_snapshot, queued):
    job = job_submit(user=alice, snapshot=alice_snapshot, inputs=[EMBEDDED])
    Job.objects.filter(pk=job.pk).update(status=JobStatus.CANCELLED)
    beat(runtime("any"))
    assert job_place(job=job) is False
    job.refresh_from_db()
    assert job.runtime is None and job.placement == "no online runtime"


def test_a_chosen_offline_runtime_still_queues_with_a_warning(
    alice, alice_snapshot, queued, django_capture_on_commit_callbacks
):
    gpu = runtime("gpu-1", ["gpu"])
    with django_capture_on_commit_callbacks(execute=True):
        job = job_submit(user=alice, snapshot=alice_snapshot, inputs=[EMBEDDED], runtime=gpu)
    assert queued == [(job.uuid, "gpu-1")] and not job.runtime_auto
    assert job.placement.startswith("chosen by alice; warning: runtime gpu-1 is offline")
    beat(gpu)
    with django_capture_on_commit_callbacks(execute=True):
        job = job_submit(user=alice, snapshot=alice_snapshot, inputs=[EMBEDDED], runtime=gpu)
    assert job.placement == "chosen by alice"


def test_a_runtime_chosen_by_hand_without_the_snapshots_tags_is_refused(
    alice, alice_snapshot, queued
):
    dev = runtime("dev", ["dev", "gpu"])
    beat(dev)
    snapshot = needing(alice_snapshot, "PROD", "gpu", "eu")
    with pytest.raises(ValidationError) as refused:
        job_submit(user=alice, snapshot=snapshot, inputs=[EMBEDDED], runtime=dev)
    assert refused.value.message_dict == {
        "runtime": [
            "runtime dev lacks the tags PROD, eu that snapshot v1 requires; choose a runtime "
            "with them, or let the system choose."
        ]
    }
    assert not Job.objects.exists() and queued == []


def test_a_runtime_chosen_by_hand_with_the_snapshots_tags_in_another_case_is_kept(
    alice, alice_snapshot, queued, django_capture_on_commit_callbacks
):
    prod = runtime("prod", ["prod", "GPU", "extra"])
    beat(prod)
    with django_capture_on_commit_callbacks(execute=True):
        job = job_submit(
            user=alice, snapshot=needing(alice_snapshot, "PROD", "gpu"), inputs=[EMBEDDED],
            runtime=prod,
        )  # fmt: skip
    assert job.runtime == prod and queued == [(job.uuid, "prod")]


def test_a_snapshot_may_need_no_tags_and_any_online_runtime_fits(alice_model):
    snapshot = SnapshotFactory(model=alice_model, version=2)
    rt = runtime("plain", ["whatever"])
    beat(rt)
    assert runtime_choose(snapshot=snapshot)[0] == rt
