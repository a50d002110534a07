from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.urls import reverse

from commandcenter.lib.models import TimeStampedModel
from jobs.runner.smarttags import SmartTags


class Model(TimeStampedModel):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_models"
    )
    team = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="models")
    tags = models.JSONField(default=list, blank=True)
    # The snapshot in production (ModelOp's "deployed" model); jobs created by model use it.
    # Every change is a Promotion row (who, when, from what, why).
    champion = models.ForeignKey(
        "Snapshot", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("registry-model-detail", args=[self.uuid])

    def latest_snapshot(self) -> Snapshot | None:
        return self.snapshots.order_by("-version").first()


class Snapshot(TimeStampedModel):
    """An immutable version of a model: source code plus attachments."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="snapshots")
    version = models.PositiveIntegerField()
    source_name = models.CharField(max_length=200, default="model.py")
    source = models.TextField()
    smart_tags = models.JSONField(default=dict)
    notes = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    # Tags a runtime must carry to run this snapshot's jobs (e.g. ["PROD", "gpu"]).
    runtime_tags = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="snapshots"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    # Lineage of a snapshot made by a training job: the job, and a fingerprint of its
    # training data ({"size": bytes, "sha256": ..., "rows": n, "inputs": [...]}).
    training_job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    training_data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["model", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="unique_snapshot_version")
        ]

    def __str__(self) -> str:
        return f"{self.model.name} v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("registry-snapshot-detail", args=[self.uuid])

    @property
    def tags_parsed(self) -> SmartTags:
        return SmartTags.from_dict(self.smart_tags)

    def schema_names(self) -> list[str]:
        return [a.name for a in self.attachments.all() if a.name.endswith(".avsc")]


def _attachment_path(instance: Attachment, filename: str) -> str:
    return f"snapshots/{instance.snapshot.uuid}/{instance.name}"


class Attachment(TimeStampedModel):
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="attachments")
    name = models.CharField(max_length=200)
    file = models.FileField(upload_to=_attachment_path, max_length=500)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "name"], name="unique_attachment_name")
        ]

    def __str__(self) -> str:
        return self.name


class Promotion(TimeStampedModel):
    """One change of a model's champion snapshot: the audit trail the model page shows."""

    class Source(models.TextChoices):
        PAGE = "page", "Model page"
        API = "api", "API"
        CLI = "cli", "moc"
        PROCESS = "process", "Process"
        ADMIN = "admin", "Admin"

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="promotions")
    snapshot = models.ForeignKey(
        Snapshot, null=True, blank=True, on_delete=models.SET_NULL, related_name="promotions"
    )
    previous = models.ForeignKey(
        Snapshot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.PAGE)
    # The process run that promoted, when one did (processes.ProcessRun.uuid).
    process_run = models.UUIDField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.model.name}: v{self.snapshot.version if self.snapshot else '?'} champion"
