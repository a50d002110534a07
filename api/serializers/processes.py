"""MLC processes and their runs, as the API shows them."""

from __future__ import annotations

from rest_framework import serializers

from processes.models import Process, ProcessRun, RunStep, Trigger


class TriggerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Trigger
        fields = ["kind", "cron", "location", "job_type", "next_run_at", "last_error", "enabled"]


class ProcessSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.name")
    owner = serializers.CharField(source="owner.username", help_text="jobs are created as them")
    model = serializers.SerializerMethodField(help_text="the model's uuid")
    triggers = TriggerSerializer(many=True)
    steps = serializers.SerializerMethodField(help_text="step id → its configuration")

    class Meta:
        model = Process
        fields = ["uuid", "name", "team", "owner", "template", "model", "enabled", "triggers",
                  "steps", "created_at"]  # fmt: skip

    def get_model(self, process: Process) -> str | None:
        return (process.settings or {}).get("model")

    def get_steps(self, process: Process) -> dict:
        return (process.settings or {}).get("steps") or {}


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
