from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone

from commandcenter.lib.encryption import EncryptedTextField
from commandcenter.lib.models import TimeStampedModel


class JobType(models.TextChoices):
    SCORING = "scoring", "Scoring"
    METRICS = "metrics", "Metrics"
    TRAINING = "training", "Training"


class JobStatus(models.TextChoices):
    CREATED = "CREATED", "Created"
    WAITING = "WAITING", "Waiting"
    RUNNING = "RUNNING", "Running"
    COMPLETE = "COMPLETE", "Complete"
    ERROR = "ERROR", "Error"
    CANCELLED = "CANCELLED", "Cancelled"


TERMINAL_STATUSES = (JobStatus.COMPLETE, JobStatus.ERROR, JobStatus.CANCELLED)
ACTIVE_STATUSES = (JobStatus.CREATED, JobStatus.WAITING, JobStatus.RUNNING)


class JobResult(models.TextChoices):
    NONE = "", "—"
    SUCCESS = "SUCCESS", "Success"
    FAILURE = "FAILURE", "Records rejected"


class AssetFormat(models.TextChoices):
    JSONL = "jsonl", "JSON lines"
    JSON = "json", "JSON array"
    CSV = "csv", "CSV"
    PARQUET = "parquet", "Parquet"


class Connection(TimeStampedModel):
    """Where external data lives and how to reach it. Managed by staff in the admin.

    Secrets (the S3 secret key, the SQL DSN, which holds a password) are write-only: no page,
    API answer or log shows them back. They are stored encrypted (FIELD_ENCRYPTION_KEY).
    """

    class Kind(models.TextChoices):
        S3 = "s3", "S3 (AWS or S3-compatible)"
        HDFS = "hdfs", "HDFS (WebHDFS)"
        SQL = "sql", "SQL database"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    description = models.TextField(blank=True)
    teams = models.ManyToManyField(
        "auth.Group",
        blank=True,
        related_name="connections",
        help_text="Teams that may use this connection; none means every team.",
    )
    # S3
    endpoint_url = models.CharField(
        max_length=500, blank=True, help_text="S3: blank for AWS, else e.g. http://minio:9000"
    )
    region = models.CharField(max_length=50, blank=True)
    access_key_id = models.CharField(max_length=200, blank=True)
    secret_access_key = EncryptedTextField(max_length=500, blank=True)
    use_worker_credentials = models.BooleanField(
        "Use the worker's own credentials",
        default=False,
        help_text="Only with blank keys. Warning: the worker's own AWS credentials (instance "
        "role, environment, ~/.aws) may reach much more than one team's data, such as the "
        "command center's storage bucket (which stays refused); every team allowed this "
        "connection can use whatever they reach. Off: a connection without keys refuses to work.",
    )
    # HDFS
    webhdfs_url = models.CharField(
        max_length=500, blank=True, help_text="HDFS: e.g. http://namenode:9870"
    )
    hdfs_user = models.CharField(max_length=100, blank=True)
    # SQL
    dsn = EncryptedTextField(
        max_length=1000,
        blank=True,
        help_text="SQL: postgresql://user:password@host:5432/db or sqlite:///path/to/file.db",
    )
    statement_timeout_seconds = models.PositiveIntegerField(default=300)

    SECRET_FIELDS = ("secret_access_key", "dsn")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def clean(self) -> None:
        super().clean()
        # PostgreSQL reads 0 as "no timeout"; an input query must never run without one.
        if self.statement_timeout_seconds is not None and self.statement_timeout_seconds < 1:
            raise ValidationError(
                {"statement_timeout_seconds": "A statement timeout is at least 1 second."}
            )


def port_list(text: str) -> list[int]:
    return [int(part) for part in text.replace(" ", "").split(",") if part]


ASSET_ROLES = (
    "BASELINE_DATA", "COMPARATOR_DATA", "SAMPLE_DATA", "TRAINING_DATA", "TEST_DATA",
    "VALIDATION_DATA", "HOLDOUT_DATA", "SCORING_DATA", "INPUT_DATA",
)  # fmt: skip


def validate_asset_role(role: str) -> None:
    if role and not re.fullmatch(r"[A-Z][A-Z0-9_]{0,39}", role):
        raise ValidationError(
            f"An asset role is a name in capitals such as {', '.join(ASSET_ROLES[:3])}, "
            f"not {role[:50]!r}."
        )


def validate_port_list(text: str) -> None:
    try:
        ports = port_list(text)
    except ValueError:
        raise ValidationError("Ports are whole numbers, separated by commas.") from None
    if any(not 1 <= port <= 65535 for port in ports):
        raise ValidationError("A port is a number from 1 to 65535.")


class Runtime(TimeStampedModel):
    """A named Celery queue served by one or more workers."""

    class Kind(models.TextChoices):
        PROCESS = "process", "Model process on the worker"
        SPARK = "spark", "Apache Spark"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, unique=True)
    queue = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    is_default = models.BooleanField(default=False)
    kind = models.CharField(
        max_length=20,
        choices=Kind.choices,
        default=Kind.PROCESS,
        help_text="Process: the worker runs each job's model in its own sandboxed child process. "
        "Spark: the worker submits each job to Apache Spark as an application (client mode).",
    )
    # Spark runtimes only.
    spark_master = models.CharField(
        max_length=500,
        blank=True,
        help_text="Spark: local[N], local[*], spark://host:7077, yarn or k8s://https://host:443.",
    )
    spark_conf = models.JSONField(
        default=dict,
        blank=True,
        help_text='Spark: configuration key/values, e.g. {"spark.executor.memory": "4g"}.',
    )
    spark_secret_conf = EncryptedTextField(
        blank=True,
        help_text="Spark: secret configuration key/values as a JSON object; stored encrypted, "
        "never shown back.",
    )
    # Limits for every job on this runtime; blank means none.
    time_limit_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Stop a job that runs longer than this."
    )
    memory_limit_mb = models.PositiveIntegerField(
        null=True, blank=True, help_text="Stop a job whose model process uses more than this."
    )
    max_attempts = models.PositiveSmallIntegerField(
        default=3, help_text="How often a job is started again after its worker was lost."
    )
    # The model process has no network unless its runtime allows it (jobs/runner/sandbox.py).
    allow_network = models.BooleanField(
        default=False,
        help_text="Let model code on this runtime open network connections (TCP). Off: none.",
    )
    network_ports = models.CharField(
        max_length=200,
        blank=True,
        validators=[validate_port_list],
        help_text="With network allowed: only these TCP ports, comma-separated (e.g. 443, 5432). "
        "Blank: any port.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def network_port_list(self) -> list[int]:
        return port_list(self.network_ports)

    @property
    def network_text(self) -> str:
        if not self.allow_network:
            return "off"
        return (
            f"ports {', '.join(map(str, self.network_port_list()))}" if self.network_ports else "on"
        )


class Worker(TimeStampedModel):
    """A Celery worker process serving a runtime's queue, as its heartbeats describe it."""

    name = models.CharField(max_length=255, unique=True)  # the Celery hostname, name@host
    runtime = models.ForeignKey(
        Runtime, null=True, blank=True, on_delete=models.SET_NULL, related_name="workers"
    )
    queue = models.CharField(max_length=100, blank=True)
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    concurrency = models.PositiveSmallIntegerField(default=1)
    versions = models.JSONField(default=dict, blank=True)  # python and key packages
    tags = models.JSONField(default=list, blank=True)
    jobs_in_hand = models.JSONField(default=list, blank=True)  # job uuids being run
    started_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True, db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    # What the worker can do for its model processes (jobs.runner.sandbox.sandbox_support).
    sandbox = models.JSONField(default=dict, blank=True)
    # {"database_outage": {"since", "until", "seconds"}}: the last time it could not beat.
    health = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["runtime__name", "name"]

    def __str__(self) -> str:
        return self.name


class Upload(TimeStampedModel):
    """A file a person uploaded as job input, before (and while) jobs use it."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=255)
    file = models.FileField(upload_to="uploads/%Y/%m/", max_length=500)
    size = models.BigIntegerField(default=0)
    # Content address: an upload with the same SHA-256 in the same team is not sent again.
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    team = models.ForeignKey(
        "auth.Group", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.name


class Job(TimeStampedModel):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    job_type = models.CharField(max_length=20, choices=JobType.choices, default=JobType.SCORING)
    snapshot = models.ForeignKey(
        "models_registry.Snapshot", on_delete=models.PROTECT, related_name="jobs"
    )
    runtime = models.ForeignKey(Runtime, null=True, blank=True, on_delete=models.SET_NULL)
    runtime_auto = models.BooleanField(default=False)
    placement = models.CharField(max_length=500, blank=True)
    status = models.CharField(
        max_length=20, choices=JobStatus.choices, default=JobStatus.CREATED, db_index=True
    )
    result = models.CharField(max_length=20, choices=JobResult.choices, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="jobs"
    )
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True)
    records_read = models.BigIntegerField(default=0)
    records_written = models.BigIntegerField(default=0)
    records_rejected = models.BigIntegerField(default=0)
    bytes_read = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    log = models.TextField(blank=True)
    input_schema = models.CharField(max_length=200, blank=True)
    output_schema = models.CharField(max_length=200, blank=True)
    check_input_schema = models.BooleanField(default=False)
    check_output_schema = models.BooleanField(default=False)
    params = models.JSONField(default=dict, blank=True)
    # Record-level semantics (jobs.runner.rejects): end in ERROR at the first rejected record
    # (ModelOp's stopOnBadRecords), or once more than N / more than P % of them are rejected.
    stop_on_bad_records = models.BooleanField(default=False)
    max_rejects = models.PositiveBigIntegerField(null=True, blank=True)
    max_rejects_percent = models.FloatField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    # A client's key for "create this job once": a second submit with it returns the first job.
    idempotency_key = models.CharField(max_length=200, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    peak_memory = models.BigIntegerField(null=True, blank=True)
    # What the model process ran under, as it reported (jobs.runner.sandbox.sandbox_apply).
    sandbox = models.JSONField(null=True, blank=True)
    # Metrics jobs: what the metrics function (or the built-in evaluator) yielded, as JSON.
    metrics = models.JSONField(null=True, blank=True)
    # Set by the attempt that began to make its external output visible, before the target
    # commits (jobs.services.job_publish_decide): {"attempt": n, ...} with what a later attempt
    # needs to undo it. From then on the job can no longer be cancelled.
    publishing = models.JSONField(default=dict, blank=True)
    # Progress an engine reports beside records (Spark: stages and tasks done of total, the
    # Spark UI's address while the application runs).
    engine_progress = models.JSONField(default=dict, blank=True)
    # Training jobs: the snapshot the job made.
    result_snapshot = models.ForeignKey(
        "models_registry.Snapshot",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at"]),
            # The jobs list: keyset pages over (created_at, id), filtered by status or owner.
            models.Index(fields=["-created_at", "-id"], name="job_list_keyset"),
            models.Index(fields=["status", "-created_at", "-id"], name="job_list_status"),
            models.Index(fields=["created_by", "-created_at", "-id"], name="job_list_owner"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="unique_job_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_job_type_display()} job {self.uuid}"

    def get_absolute_url(self) -> str:
        return reverse("jobs-detail", args=[self.uuid])

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def elapsed_seconds(self) -> float | None:
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return max((end - self.started_at).total_seconds(), 0.0)

    @property
    def rate(self) -> float | None:
        """Records read per second."""
        elapsed = self.elapsed_seconds
        if not elapsed or not self.records_read:
            return None
        return self.records_read / elapsed

    @property
    def spark_progress(self) -> dict | None:
        """A Spark job's progress once Spark has tasks to tell of (else None)."""
        progress = self.engine_progress or {}
        if progress.get("engine") == "spark" and progress.get("tasks_total"):
            return progress
        return None

    @property
    def percent(self) -> float | None:
        if self.status == JobStatus.COMPLETE:
            return 100.0
        if spark := self.spark_progress:  # tasks done of total: its input may be unsized
            return float(spark.get("percent") or 0)
        if not self.bytes_total:
            return None
        return min(100.0, 100.0 * self.bytes_read / self.bytes_total)

    @property
    def eta_seconds(self) -> float | None:
        percent, elapsed = self.percent, self.elapsed_seconds
        if (spark := self.spark_progress) and not self.is_terminal:
            return float(spark["eta_seconds"]) if spark.get("eta_seconds") else None
        if self.is_terminal or not percent or not elapsed or percent >= 100:
            return None
        return elapsed * (100 - percent) / percent

    def input_assets(self):
        return self.assets.filter(direction=JobAsset.Direction.INPUT).order_by("position")

    def output_asset(self) -> JobAsset | None:
        return self.assets.filter(direction=JobAsset.Direction.OUTPUT).order_by("position").first()


class JobAsset(TimeStampedModel):
    """An input or output of a job. The kind says where the data lives."""

    class Direction(models.TextChoices):
        INPUT = "in", "Input"
        OUTPUT = "out", "Output"

    class Kind(models.TextChoices):
        UPLOAD = "upload", "Uploaded file"
        EMBEDDED = "embedded", "Embedded"
        FILE = "file", "Stored file"
        S3 = "s3", "S3"
        HDFS = "hdfs", "HDFS"
        SQL = "sql", "SQL"

    class WriteMode(models.TextChoices):
        REPLACE = "replace", "Replace"
        APPEND = "append", "Append"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="assets")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=255, blank=True)
    # Blank for an S3/HDFS input whose files' extensions decide, file by file.
    format = models.CharField(
        max_length=10, choices=AssetFormat.choices, default=AssetFormat.JSONL, blank=True
    )
    # Input: the uploaded or stored file. Output: the committed result file (set on success).
    file = models.FileField(upload_to="assets/", max_length=500, blank=True)
    data = models.TextField(blank=True)  # embedded input, as pasted
    size = models.BigIntegerField(null=True, blank=True)
    rejects_file = models.FileField(upload_to="assets/", max_length=500, blank=True)
    # External assets: a connection and where on it (s3://bucket/key, hdfs://nn/path, or for
    # SQL output a table name); SQL input is a SELECT statement.
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.PROTECT, related_name="assets"
    )
    location = models.CharField(max_length=1000, blank=True)
    # ModelOp's assetRole (BASELINE_DATA, COMPARATOR_DATA, SAMPLE_DATA, TRAINING_DATA, ...): what
    # the input is to the model; blank means the default for the job type and position.
    role = models.CharField(max_length=40, blank=True, validators=[validate_asset_role])
    query = models.TextField(blank=True)
    write_mode = models.CharField(
        max_length=10, choices=WriteMode.choices, default=WriteMode.REPLACE, blank=True
    )
    # What publishing an external output produced (e.g. the S3 keys written).
    published = models.JSONField(default=dict, blank=True)

    @property
    def is_external(self) -> bool:
        return self.kind in (self.Kind.S3, self.Kind.HDFS, self.Kind.SQL)

    class Meta:
        ordering = ["job", "direction", "position"]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.position}: {self.name or self.kind}"
