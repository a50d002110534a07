"""MLC processes: a definition (BPMN, usually made from a built-in template), its triggers,
and its runs with one row per step."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.urls import reverse

from commandcenter.lib.models import TimeStampedModel


class Template(models.TextChoices):
    RETRAIN_PROMOTE = "retrain_promote", "Retrain and promote"
    SCHEDULED_SCORING = "scheduled_scoring", "Scheduled scoring"
    CHAMPION_CHALLENGER = "champion_challenger", "Champion/challenger"
    BPMN = "bpmn", "Imported BPMN"


class Process(TimeStampedModel):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    team = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="processes")
    # Jobs of a run are created as this person (with their permissions on models and data).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="processes"
    )
    template = models.CharField(max_length=30, choices=Template.choices)
    # The template's form values, and "steps": {bpmn task id: step configuration}.
    settings = models.JSONField(default=dict, blank=True)
    bpmn_xml = models.TextField()
    dmn_xml = models.TextField(blank=True)  # the decision tables its business rule tasks use
    # The uploaded files its steps read: kept by the unused-upload sweep while a process uses them.
    uploads = models.ManyToManyField("jobs.Upload", blank=True, related_name="process_uses")
    enabled = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "processes"
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("processes-detail", args=[self.uuid])


class Trigger(TimeStampedModel):
    class Kind(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULE = "schedule", "Schedule (cron)"
        SNAPSHOT = "snapshot", "New snapshot of the model"
        S3_OBJECTS = "s3_objects", "New objects under an S3 prefix"
        HDFS_FILES = "hdfs_files", "New files under an HDFS folder"
        SQL_CHANGED = "sql_changed", "A SQL query's result changed"
        JOB_FINISHED = "job_finished", "A job finished"

    # The kinds polled at most every PROCESSES_POLL_SECONDS (each poll costs requests).
    POLLED_KINDS = (Kind.S3_OBJECTS, Kind.HDFS_FILES, Kind.SQL_CHANGED)

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    process = models.ForeignKey(Process, on_delete=models.CASCADE, related_name="triggers")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.MANUAL)
    cron = models.CharField(max_length=100, blank=True)
    connection = models.ForeignKey(
        "jobs.Connection", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    location = models.CharField(max_length=1000, blank=True)  # s3://bucket/prefix/, hdfs://nn/dir
    query = models.TextField(blank=True)  # SQL_CHANGED: a read-only SELECT
    job_type = models.CharField(max_length=20, blank=True)  # JOB_FINISHED: of this type
    # What the trigger has seen: {"keys": [...]} for S3, {"paths": [...]} for HDFS,
    # {"hash": sha256} for SQL, {"snapshot": id}, {"job": id}.
    state = models.JSONField(default=dict, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)  # why the last poll failed (S3 away, ...)
    enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.process}"

    def clean(self) -> None:
        from processes.triggers import trigger_check

        trigger_check(self)


class RunStatus(models.TextChoices):
    RUNNING = "RUNNING", "Running"
    WAITING_APPROVAL = "WAITING_APPROVAL", "Waiting for approval"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    FAILED = "FAILED", "Failed"


TERMINAL_RUN_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED)


class ProcessRun(TimeStampedModel):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    process = models.ForeignKey(Process, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.RUNNING)
    trigger_kind = models.CharField(max_length=20, choices=Trigger.Kind.choices)
    trigger_data = models.JSONField(default=dict, blank=True)  # e.g. the new S3 key
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    # SpiffWorkflow's serialized workflow, saved after every step.
    workflow_state = models.TextField(blank=True)
    failed_step = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A worker advancing the run holds it until then (several workers poll at once).
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "lease_until"], name="processrun_due")]

    def __str__(self) -> str:
        return f"{self.process} run {str(self.uuid)[:8]}"

    def get_absolute_url(self) -> str:
        return reverse("processes-run", args=[self.uuid])

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES


class StepStatus(models.TextChoices):
    RUNNING = "RUNNING", "Running"
    WAITING = "WAITING", "Waiting for approval"
    DONE = "DONE", "Done"
    FAILED = "FAILED", "Failed"


class RunStep(TimeStampedModel):
    run = models.ForeignKey(ProcessRun, on_delete=models.CASCADE, related_name="steps")
    bpmn_id = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20)  # job, gate, approval, promote, notify
    attempt = models.PositiveIntegerField(default=1)  # a retry from this step adds one
    status = models.CharField(max_length=20, choices=StepStatus.choices, default=StepStatus.RUNNING)
    job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Gate: {"passed": bool, "rules": [{"rule", "key", "values", "passed"}]}.
    verdict = models.JSONField(default=dict, blank=True)
    output = models.JSONField(default=dict, blank=True)  # e.g. {"snapshot": uuid}
    reason = models.TextField(blank=True)
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "bpmn_id"], name="runstep_once_per_run")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"
