"""Dry runs: what the API shows of one (the request is a job's, JobCreateSerializer)."""

from __future__ import annotations

from rest_framework import serializers

from api.serializers.common import SnapshotRefSerializer, absolute_url
from dryruns.models import DryRun


class DryRunOutputSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    error = serializers.CharField(allow_blank=True)


class DryRunRejectSerializer(serializers.Serializer):
    direction = serializers.CharField()
    record = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()


class DryRunSchemaCheckSerializer(serializers.Serializer):
    side = serializers.CharField()
    schema = serializers.CharField()
    ok = serializers.BooleanField(allow_null=True, help_text="null: named but not checked")
    text = serializers.CharField()


class DryRunResultSerializer(serializers.Serializer):
    """Filled in once the dry run is over; keys absent while it waits or runs."""

    error = serializers.CharField(required=False, help_text="why the model failed on the sample")
    counts = serializers.DictField(child=serializers.IntegerField(), required=False)
    inputs = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="records sampled per input"
    )
    seconds = serializers.FloatField(required=False)
    output = DryRunOutputSerializer(required=False, help_text="scoring: the first records")
    metrics = serializers.ListField(child=serializers.DictField(), required=False)
    artifacts = serializers.ListField(child=serializers.DictField(), required=False)
    rejects = DryRunRejectSerializer(many=True, required=False)
    schema_checks = DryRunSchemaCheckSerializer(many=True, required=False)
    log = serializers.CharField(required=False)


class DryRunSerializer(serializers.ModelSerializer):
    snapshot = SnapshotRefSerializer()
    runtime = serializers.CharField(source="runtime.name", allow_null=True)
    result = DryRunResultSerializer()
    records = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = DryRun
        fields = [
            "uuid", "status", "job_type", "snapshot", "runtime", "records", "result",
            "created_at", "url",
        ]  # fmt: skip

    def get_records(self, dry_run: DryRun) -> int:
        return int(dry_run.request.get("records") or 0)

    def get_url(self, dry_run: DryRun) -> str:
        return absolute_url(self.context, "api-dry-run-detail", dry_run.uuid)
