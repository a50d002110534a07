"""MLC processes and their runs, as the API shows them."""

from __future__ import annotations

from rest_framework import serializers

from processes import bpmn
from processes.models import Process, ProcessRun, RunStep, Trigger


class TriggerSerializer(serializers.ModelSerializer):
    connection = serializers.SlugRelatedField(
        slug_field="name", read_only=True, help_text="the connection polled (S3, HDFS, SQL)"
    )

    class Meta:
        model = Trigger
        fields = ["uuid", "kind", "cron", "connection", "location", "query", "job_type",
                  "next_run_at", "last_error", "enabled"]  # fmt: skip


class TriggerWriteSerializer(serializers.Serializer):
    """A trigger to add (kind required) or change (only the fields given); the fields not of
    its kind are cleared."""

    kind = serializers.ChoiceField(choices=Trigger.Kind.choices, required=False)
    cron = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="schedule: cron, UTC"
    )
    connection = serializers.CharField(
        required=False, allow_blank=True, allow_null=True,
        help_text="S3, HDFS or SQL: the connection's name or uuid",
    )  # fmt: skip
    location = serializers.CharField(
        required=False, allow_blank=True, max_length=1000,
        help_text="s3://bucket/prefix/ or hdfs://namenode/folder",
    )  # fmt: skip
    query = serializers.CharField(
        required=False, allow_blank=True, help_text="SQL: a read-only SELECT"
    )
    job_type = serializers.CharField(required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)


class ProcessSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.name")
    owner = serializers.CharField(source="owner.username", help_text="jobs are created as them")
    model = serializers.SerializerMethodField(help_text="the model's uuid")
    triggers = TriggerSerializer(many=True)
    steps = serializers.SerializerMethodField(
        help_text="step id → its configuration, in the order of the flow"
    )
    step_order = serializers.SerializerMethodField(
        help_text="the step ids (and decision tables) in the order of the flow, from the start"
    )

    class Meta:
        model = Process
        fields = ["uuid", "name", "team", "owner", "template", "model", "enabled", "triggers",
                  "steps", "step_order", "created_at"]  # fmt: skip

    def get_model(self, process: Process) -> str | None:
        return (process.settings or {}).get("model")

    def get_step_order(self, process: Process) -> list[str]:
        # The settings' JSON object keeps no key order on PostgreSQL (jsonb): the BPMN's flow does.
        from django.core.exceptions import ValidationError

        try:
            return [i for i, _ in bpmn.steps_in_order(process.bpmn_xml, process.dmn_xml)]
        except ValidationError:
            return []

    def get_steps(self, process: Process) -> dict:
        configs = (process.settings or {}).get("steps") or {}
        order = [i for i in self.get_step_order(process) if i in configs]
        return {i: configs[i] for i in order + sorted(set(configs) - set(order))}


class RunStepSerializer(serializers.ModelSerializer):
    job = serializers.UUIDField(source="job.uuid", allow_null=True, default=None)
    approver = serializers.CharField(source="approver.username", allow_null=True, default=None)

    class Meta:
        model = RunStep
        fields = ["bpmn_id", "name", "kind", "status", "attempt", "job", "verdict", "output",
                  "reason", "approver", "started_at", "finished_at"]  # fmt: skip


class ProcessRunSerializer(serializers.ModelSerializer):
    process = serializers.UUIDField(source="process.uuid")
    process_name = serializers.CharField(source="process.name")
    started_by = serializers.CharField(source="started_by.username", allow_null=True, default=None)
    steps = RunStepSerializer(many=True)

    class Meta:
        model = ProcessRun
        fields = ["uuid", "process", "process_name", "status", "trigger_kind", "trigger_data",
                  "started_by", "failed_step", "reason", "steps", "created_at",
                  "finished_at"]  # fmt: skip
