"""Work dirs of attempts that are over are removed by every worker's reconciler."""

from __future__ import annotations

import uuid

import pytest

from jobs.models import Job, JobStatus
from jobs.worker.workdir import workdir_sweep

pytestmark = pytest.mark.django_db


@pytest.fixture
def work(settings, tmp_path):
    settings.JOB_WORK_DIR = tmp_path / "work"
    settings.JOB_WORK_DIR.mkdir()
    return settings.JOB_WORK_DIR


def job(snapshot, user, status, attempts) -> Job:
    return Job.objects.create(snapshot=snapshot, created_by=user, status=status, attempts=attempts)


def attempt_dir(work, job_uuid, attempt):
    folder = work / f"{job_uuid}-{attempt}"
    (folder / "inputs").mkdir(parents=True)
    (folder / "inputs" / "0-data.csv").write_text("x\n1\n")
    return folder


def test_only_the_dirs_of_attempts_still_running_are_kept(work, alice_snapshot, alice):
    running = job(alice_snapshot, alice, JobStatus.RUNNING, attempts=2)
    taken_back = job(alice_snapshot, alice, JobStatus.WAITING, attempts=1)
    cancelled = job(alice_snapshot, alice, JobStatus.CANCELLED, attempts=1)
    complete = job(alice_snapshot, alice, JobStatus.COMPLETE, attempts=1)
    kept = attempt_dir(work, running.uuid, 2)
    gone = [
        attempt_dir(work, running.uuid, 1),  # its worker was killed; attempt 2 runs elsewhere
        attempt_dir(work, taken_back.uuid, 1),
        attempt_dir(work, cancelled.uuid, 1),
        attempt_dir(work, complete.uuid, 1),
        attempt_dir(work, uuid.uuid4(), 1),  # a job deleted since
    ]
    (work / "notes").mkdir()  # not a work dir: not ours to remove

    assert workdir_sweep() == 5

    assert kept.exists() and (work / "notes").exists()
    assert not [folder for folder in gone if folder.exists()]
    assert workdir_sweep() == 0


def test_a_missing_work_folder_is_nothing_to_sweep(settings, tmp_path):
    settings.JOB_WORK_DIR = tmp_path / "never-made"
    assert workdir_sweep() == 0
