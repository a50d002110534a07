"""Jobs: the JSON a client submits (checked and resolved into jobs.services specs) and what
the API shows of a job."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.common import (
    ModelRefSerializer,
    SnapshotRefSerializer,
    absolute_url,
    as_uuid,
    has_nul,
)
from jobs.models import (
    AssetFormat,
    Connection,
    Job,
    JobAsset,
    JobStatus,
    JobType,
    Runtime,
    Upload,
    validate_asset_role,
)
from jobs.selectors import connection_list
from jobs.services import InputSpec, OutputSpec
from models_registry.selectors import model_job_snapshot, model_list, snapshot_list

# The seed's (and ModelOp's) names for the job types.
JOB_TYPE_ALIASES = {
    "batchjob": JobType.SCORING,
    "testjob": JobType.METRICS,
    "trainingjob": JobType.TRAINING,
}
JOB_TYPE_CHOICES = [*JobType.values, *JOB_TYPE_ALIASES]
INPUT_KINDS = ("upload", "embedded", "s3", "hdfs", "sql")
OUTPUT_KINDS = ("embedded", "file", "s3", "hdfs", "sql")
EXTERNAL = ("s3", "hdfs", "sql")
MAX_INPUTS = 100


def connection_resolve(*, user, kind: str, value: str | None) -> Connection:
    """The connection of KIND named (or with the uuid) VALUE that USER may use; with no VALUE,
    the only one. Refusals name the choices, and never a connection USER may not use."""
    usable = connection_list(user=user, kind=kind).order_by("name")
    names = ", ".join(c.name for c in usable) or "none"
    if value:
        found = usable.filter(Q(name=value) | Q(uuid=as_uuid(value))).first()
        if found is None:
            raise serializers.ValidationError(
                {"connection": [f"No {kind.upper()} connection {value!r} that you may use; "
                                f"yours: {names}."]}
            )  # fmt: skip
        return found
    choices = list(usable[:2])
    if len(choices) == 1:
        return choices[0]
    if not choices:
        raise serializers.ValidationError(
            {"connection": [f"No {kind.upper()} connection is open to you; ask an admin."]}
        )
    raise serializers.ValidationError(
        {"connection": [f"Several {kind.upper()} connections are open to you; name one: {names}."]}
    )


class JobInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=INPUT_KINDS)
    upload = serializers.UUIDField(required=False, help_text="upload: from POST /api/uploads/")
    data = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="embedded: the records"
    )
    location = serializers.CharField(
        required=False, max_length=1000, help_text="s3://bucket/key, hdfs://nn/path"
    )
    query = serializers.CharField(required=False, help_text="sql: one SELECT statement")
    connection = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=100,
        help_text="name or uuid",
    )  # fmt: skip
    format = serializers.ChoiceField(choices=AssetFormat.choices, required=False, allow_blank=True)
    name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    role = serializers.CharField(
        required=False, allow_blank=True, max_length=40,
        help_text="ModelOp's assetRole: BASELINE_DATA, COMPARATOR_DATA, SAMPLE_DATA, "
        "TRAINING_DATA, ...; blank: the default for the job type",
    )  # fmt: skip

    def validate_role(self, value: str) -> str:
        value = value.strip().upper()
        try:
            validate_asset_role(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value

    def validate(self, attrs: dict) -> InputSpec:
        user = self.context["request"].user
        kind = attrs["kind"]
        needed = {"upload": "upload", "embedded": "data", "s3": "location", "hdfs": "location",
                  "sql": "query"}[kind]  # fmt: skip
        if attrs.get(needed) in (None, ""):
            raise serializers.ValidationError({needed: [f"This {kind} input needs {needed!r}."]})
        spec = InputSpec(
            kind=kind, name=attrs.get("name", ""), format=attrs.get("format", ""),
            role=attrs.get("role", ""),
        )  # fmt: skip
        if kind == "upload":
            spec.upload = Upload.objects.filter(uuid=attrs["upload"], owner=user).first()
            if spec.upload is None:
                raise serializers.ValidationError(
                    {"upload": ["No upload of yours with this uuid; upload the file again."]}
                )
        elif kind == "embedded":
            spec.data = attrs["data"]
        else:
            spec.connection = connection_resolve(
                user=user, kind=kind, value=attrs.get("connection")
            )
            spec.location = attrs.get("location", "")
            spec.query = attrs.get("query", "")
        return spec


class JobOutputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=OUTPUT_KINDS, default="embedded")
    name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    format = serializers.ChoiceField(choices=AssetFormat.choices, required=False, allow_blank=True)
    location = serializers.CharField(
        required=False, allow_blank=True, max_length=1000,
        help_text="s3/hdfs: where; sql: a table name",
    )  # fmt: skip
    connection = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=100
    )
    write_mode = serializers.ChoiceField(
        choices=JobAsset.WriteMode.choices, default=JobAsset.WriteMode.REPLACE
    )

    def validate(self, attrs: dict) -> OutputSpec:
        kind = attrs["kind"]
        spec = OutputSpec(
            kind=kind, name=attrs.get("name", ""), format=attrs.get("format", ""),
            location=attrs.get("location", ""), write_mode=attrs["write_mode"],
        )  # fmt: skip
        if kind in EXTERNAL:
            if not spec.location:
                raise serializers.ValidationError(
                    {"location": [f"This {kind} output needs 'location'."]}
                )
            spec.connection = connection_resolve(
                user=self.context["request"].user, kind=kind, value=attrs.get("connection")
            )
        return spec


class JobCreateSerializer(serializers.Serializer):
    job_type = serializers.ChoiceField(choices=JOB_TYPE_CHOICES, default=JobType.SCORING)
    snapshot = serializers.UUIDField(required=False, help_text="the snapshot to run")
    model = serializers.UUIDField(
        required=False,
        help_text="or a model: its champion snapshot, or its newest when it has no champion",
    )
    inputs = JobInputSerializer(many=True, allow_empty=False, max_length=MAX_INPUTS)
    output = JobOutputSerializer(required=False, allow_null=True)
    runtime = serializers.CharField(
        required=False, allow_null=True, allow_blank=True,
        help_text="name or uuid; omitted or null: let the system choose",
    )  # fmt: skip
    input_schema = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200
    )
    output_schema = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200
    )
    check_input_schema = serializers.BooleanField(required=False, default=False)
    check_output_schema = serializers.BooleanField(required=False, default=False)
    params = serializers.DictField(required=False, default=dict)
    stop_on_bad_records = serializers.BooleanField(
        required=False, default=False,
        help_text="end in ERROR at the first rejected record (ModelOp's stopOnBadRecords)",
    )  # fmt: skip
    max_rejects = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0,
        help_text="error threshold: end in ERROR once more than this many records are rejected",
    )  # fmt: skip
    max_rejects_percent = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=0, max_value=100,
        help_text="error threshold: end in ERROR when more than this % of records are rejected",
    )  # fmt: skip
    evaluator = serializers.BooleanField(
        required=False, help_text="metrics jobs: run the built-in evaluator"
    )

    def _user(self):
        return self.context["request"].user

    def validate_job_type(self, value: str) -> str:
        return JOB_TYPE_ALIASES.get(value, value)

    def validate_params(self, value: dict) -> dict:
        if has_nul(value):
            raise serializers.ValidationError("Parameters cannot hold NUL characters.")
        return value

    def validate_snapshot(self, value):
        snapshot = snapshot_list(user=self._user()).filter(uuid=value).first()
        if snapshot is None:
            raise serializers.ValidationError("No snapshot with this uuid that you may see.")
        return snapshot

    def validate_model(self, value):
        model = model_list(user=self._user()).filter(uuid=value).first()
        if model is None:
            raise serializers.ValidationError("No model with this uuid that you may see.")
        snapshot = model_job_snapshot(model=model)
        if snapshot is None:
            raise serializers.ValidationError(f"The model {model.name!r} has no snapshot yet.")
        return snapshot

    def validate_runtime(self, value: str | None) -> Runtime | None:
        if not value:
            return None
        runtime = Runtime.objects.filter(Q(name=value) | Q(uuid=as_uuid(value))).first()
        if runtime is None:
            names = ", ".join(Runtime.objects.order_by("name").values_list("name", flat=True))
            raise serializers.ValidationError(
                f"No runtime {value!r}; the runtimes are: {names or 'none'}."
            )
        return runtime

    def validate(self, attrs: dict) -> dict:
        snapshot, model_snapshot = attrs.pop("snapshot", None), attrs.pop("model", None)
        if snapshot and model_snapshot:
            raise serializers.ValidationError(
                {"snapshot": ["Give either 'snapshot' or 'model', not both."]}
            )
        if not (snapshot or model_snapshot):
            raise serializers.ValidationError(
                {"snapshot": ["Give the 'snapshot' (or the 'model') to run."]}
            )
        attrs["snapshot"] = snapshot or model_snapshot
        if "evaluator" in attrs:
            attrs["params"] = {**attrs["params"], "evaluator": attrs.pop("evaluator")}
        return attrs


# --- Reading --------------------------------------------------------------------------------


class JobFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=JobStatus.choices, required=False)
    job_type = serializers.ChoiceField(choices=JOB_TYPE_CHOICES, required=False)
    model = serializers.UUIDField(required=False)
    snapshot = serializers.UUIDField(required=False)
    created_by = serializers.CharField(required=False, help_text="a user name")
    runtime = serializers.CharField(required=False, help_text="a runtime name")
    q = serializers.CharField(
        required=False, max_length=200,
        help_text="jobs whose model, input name or location, or user contains this",
    )  # fmt: skip
    sort = serializers.ChoiceField(
        choices=["-created", "created", "-duration", "duration", "status"],
        required=False,
        help_text="created, duration (start to end, or to now) or status; - reverses; "
        "default -created (newest first)",
    )

    def validate_job_type(self, value: str) -> str:
        return JOB_TYPE_ALIASES.get(value, value)


class AssetSerializer(serializers.ModelSerializer):
    connection = serializers.CharField(source="connection.name", allow_null=True)
    size = serializers.IntegerField(allow_null=True)

    class Meta:
        model = JobAsset
        fields = [
            "uuid", "kind", "name", "format", "size", "location", "query", "connection", "role",
        ]  # fmt: skip


class OutputAssetSerializer(AssetSerializer):
    published = serializers.JSONField()

    class Meta(AssetSerializer.Meta):
        fields = [*AssetSerializer.Meta.fields, "write_mode", "published"]


class JobSummarySerializer(serializers.ModelSerializer):
    model = ModelRefSerializer(source="snapshot.model")
    snapshot = SnapshotRefSerializer()
    runtime = serializers.CharField(source="runtime.name", allow_null=True)
    created_by = serializers.CharField(source="created_by.username")
    percent = serializers.FloatField(allow_null=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "uuid", "job_type", "status", "result", "model", "snapshot", "runtime",
            "created_by", "created_at", "finished_at", "records_read", "records_written",
            "records_rejected", "percent", "url",
        ]  # fmt: skip

    def get_url(self, job: Job) -> str:
        return absolute_url(self.context, "api-job-detail", job.uuid)


class JobLinksSerializer(serializers.Serializer):
    page = serializers.URLField()
    result = serializers.URLField()
    log = serializers.URLField()
    output = serializers.URLField()


class JobDetailSerializer(JobSummarySerializer):
    elapsed_seconds = serializers.FloatField(allow_null=True)
    rate = serializers.FloatField(allow_null=True)
    eta_seconds = serializers.FloatField(allow_null=True)
    params = serializers.JSONField()
    inputs = AssetSerializer(source="input_assets", many=True)
    output = OutputAssetSerializer(source="output_asset", allow_null=True)
    result_snapshot = SnapshotRefSerializer(allow_null=True)
    metrics_available = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta(JobSummarySerializer.Meta):
        fields = [
            *JobSummarySerializer.Meta.fields,
            "placement", "started_at", "elapsed_seconds", "rate", "eta_seconds", "bytes_read",
            "bytes_total", "attempts", "worker", "error_message", "input_schema",
            "output_schema", "check_input_schema", "check_output_schema", "params",
            "stop_on_bad_records", "max_rejects", "max_rejects_percent", "inputs",
            "output", "result_snapshot", "metrics_available", "links",
        ]  # fmt: skip

    def get_metrics_available(self, job: Job) -> bool:
        return job.metrics is not None

    @extend_schema_field(JobLinksSerializer)
    def get_links(self, job: Job) -> dict:
        return {
            "page": absolute_url(self.context, "jobs-detail", job.uuid),
            "result": absolute_url(self.context, "api-job-result", job.uuid),
            "log": absolute_url(self.context, "api-job-log", job.uuid),
            "output": absolute_url(self.context, "api-job-output", job.uuid),
        }


class JobLogSerializer(serializers.Serializer):
    log = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=JobStatus.choices)


class ResultOutputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=JobAsset.Kind.choices)
    name = serializers.CharField(allow_blank=True)
    format = serializers.CharField(allow_blank=True)
    size = serializers.IntegerField(allow_null=True)
    location = serializers.CharField(allow_blank=True)
    published = serializers.JSONField()


class ResultSnapshotSerializer(SnapshotRefSerializer):
    model = ModelRefSerializer()


class JobResultSerializer(serializers.Serializer):
    job_type = serializers.ChoiceField(choices=JobType.choices)
    status = serializers.ChoiceField(choices=JobStatus.choices)
    result = serializers.CharField(allow_blank=True)
    records_written = serializers.IntegerField()
    records_rejected = serializers.IntegerField()
    output = ResultOutputSerializer(allow_null=True)
    download_url = serializers.CharField(allow_null=True)
    rejects_url = serializers.CharField(allow_null=True)
    # Any JSON (null for jobs other than metrics): "anything or null" in OpenAPI 3.1 would
    # match null twice, which a oneOf refuses.
    metrics = serializers.JSONField(help_text="what the metrics function yielded; else null")
    result_snapshot = ResultSnapshotSerializer(allow_null=True)
