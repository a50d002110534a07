"""Jobs of every type in every status, with their files present or missing: what the walks
over every job page, partial and download (and the phone-width screenshots) run against."""

from __future__ import annotations

import json

from django.core.files.base import ContentFile
from django.utils import timezone

from jobs.models import Job, JobAsset, JobResult, JobStatus, JobType
from tests.jobs.test_metrics_pages import BIAS, CLASSIFICATION, IMPORTANCE

WIDE = {f"a_rather_long_column_name_{i}": "x" * 40 for i in range(12)}


def make_job(snapshot, user, job_type, status, *, files: bool = True) -> Job:
    now = timezone.now()
    ended = status in (JobStatus.COMPLETE, JobStatus.ERROR, JobStatus.CANCELLED)
    job = Job.objects.create(
        snapshot=snapshot, created_by=user, job_type=job_type, status=status,
        started_at=now if status != JobStatus.CREATED and status != JobStatus.WAITING else None,
        finished_at=now if ended else None, enqueued_at=now, attempts=1, worker="w@host",
        records_read=1000, records_written=988 if job_type == JobType.SCORING else 0,
        records_rejected=12 if status == JobStatus.COMPLETE else 0,
        result=JobResult.FAILURE if status == JobStatus.COMPLETE else "",
        error_message="the model failed: KeyError 'x'\nTraceback..." if status == "ERROR" else "",
        log="[2026-01-01 10:00:00 UTC] claimed by worker w@host (attempt 1); inputs staged\n"
        + "a very long log line without spaces " + "x" * 300 + "\n",
        metrics=(
            {**CLASSIFICATION, "bias": BIAS, "interpretability": IMPORTANCE, "threshold": 0.5}
            if job_type == JobType.METRICS and status == JobStatus.COMPLETE
            else None
        ),
    )  # fmt: skip
    upload = JobAsset(job=job, direction="in", kind="upload", name="records.jsonl")
    if files:
        upload.file.save("records.jsonl", ContentFile(b'{"x": 1}\n'), save=False)
    upload.save()
    JobAsset.objects.create(
        job=job, direction="in", kind="embedded", name="embedded.csv", data="x\n1\n", position=1
    )
    out = JobAsset(job=job, direction="out", kind="embedded", name="out.jsonl", format="jsonl")
    if files and status == JobStatus.COMPLETE:
        rows = [{"id": i, "score": i / 10, **WIDE} for i in range(5)]
        out.file.save(
            "out.jsonl",
            ContentFile("".join(json.dumps(r) + "\n" for r in rows).encode()),
            save=False,
        )  # noqa: E501
        out.rejects_file.save(
            "rejects.jsonl",
            ContentFile(b'{"direction": "input", "record": 3, "reason": "bad x"}\n'),
            save=False,
        )
    elif status == JobStatus.COMPLETE:
        out.file.name = "assets/gone.jsonl"  # recorded, but missing from storage
        out.rejects_file.name = "assets/gone-rejects.jsonl"
    out.save()
    return job


def every_job(snapshot, user, *, files: bool = True) -> list[Job]:
    return [
        make_job(snapshot, user, job_type, status, files=files)
        for job_type in JobType.values
        for status in JobStatus.values
    ]
