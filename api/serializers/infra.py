"""Runtimes, uploads and connections."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.common import FILE_NAME_MAX
from jobs.models import Connection, Runtime, Upload, Worker
from jobs.selectors import OFFLINE, ONLINE, STALE

HEALTH_STATES = [ONLINE, STALE, OFFLINE]


class WorkerSerializer(serializers.ModelSerializer):
    """A worker of runtime_runs(...): .state and .visible_jobs set."""

    state = serializers.ChoiceField(choices=HEALTH_STATES)
    jobs_in_hand = serializers.SerializerMethodField()
    pid = serializers.IntegerField(allow_null=True)

    class Meta:
        model = Worker
        fields = ["name", "host", "pid", "concurrency", "state", "last_seen_at", "jobs_in_hand"]

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_jobs_in_hand(self, worker: Worker) -> list[str]:
        """Only jobs the reader may see: an outsider does not learn others' job ids."""
        return [uuid for uuid in worker.jobs_in_hand if uuid in worker.visible_jobs]


class RuntimeSerializer(serializers.ModelSerializer):
    """A runtime of api.views.infra.runtime_runs (health, workers and job counts set)."""

    health = serializers.ChoiceField(choices=HEALTH_STATES)
    workers = WorkerSerializer(source="worker_rows", many=True)
    slots = serializers.IntegerField(help_text="job slots of its online workers")
    running_jobs = serializers.IntegerField()
    waiting_jobs = serializers.IntegerField()
    time_limit_seconds = serializers.IntegerField(allow_null=True)
    memory_limit_mb = serializers.IntegerField(allow_null=True)

    class Meta:
        model = Runtime
        fields = [
            "uuid", "name", "queue", "description", "tags", "is_default", "health",
            "time_limit_seconds", "memory_limit_mb", "max_attempts", "workers", "slots",
            "running_jobs", "waiting_jobs",
        ]  # fmt: skip


class UploadCreateSerializer(serializers.Serializer):
    file = serializers.FileField(max_length=FILE_NAME_MAX)


class UploadSerializer(serializers.ModelSerializer):
    sha256 = serializers.CharField(help_text="computed by the server from the bytes it received")

    class Meta:
        model = Upload
        fields = ["uuid", "name", "size", "sha256", "created_at"]


class UploadReuseSerializer(serializers.Serializer):
    sha256 = serializers.RegexField(
        r"^[0-9a-fA-F]{64}$",
        error_messages={"invalid": "A SHA-256 is 64 hexadecimal digits."},
    )
    name = serializers.CharField(max_length=FILE_NAME_MAX, help_text="the new upload's name")


class ConnectionSerializer(serializers.ModelSerializer):
    """Never the secrets, nor where the data is (endpoint, DSN)."""

    class Meta:
        model = Connection
        fields = ["uuid", "name", "kind", "description"]
