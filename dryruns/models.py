"""A dry run: the model tried on the first records of a job's inputs before the job is made.

Not a Job: it never appears in the jobs list, writes no output asset and makes no snapshot.
The worker fills in the result; rows older than DRY_RUN_KEEP_SECONDS are deleted when the
next dry run starts.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class DryRun(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for a worker"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        ERROR = "error", "Error"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dry_runs"
    )
    snapshot = models.ForeignKey(
        "models_registry.Snapshot", on_delete=models.CASCADE, related_name="dry_runs"
    )
    runtime = models.ForeignKey(
        "jobs.Runtime", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    job_type = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    # What to run: schemas, parameters and the inputs ({kind, name, format, role, file|data}).
    request = models.JSONField(default=dict)
    # What came out: records (columns, rows), metrics, artifacts, rejects, schema verdicts,
    # counts, error and the log's tail.
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"dry run {self.uuid} of {self.snapshot}"

    @property
    def is_over(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.ERROR)
