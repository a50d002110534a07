"""Models and snapshots: what the API shows, and the multipart forms that register them."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.common import (
    FILE_NAME_MAX,
    ModelRefSerializer,
    SnapshotRefSerializer,
    absolute_url,
    comma_list,
    refusal,
)
from commandcenter.lib.tags import runtime_tags_clean
from jobs.runner.smarttags import FUNCTION_KINDS
from models_registry.forms import clean_attachment_files
from models_registry.models import Model, Promotion, Snapshot
from models_registry.selectors import user_teams
from models_registry.services import source_check, source_read


class AttachmentSerializer(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()


class SnapshotSummarySerializer(serializers.ModelSerializer):
    functions = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username")
    url = serializers.SerializerMethodField()

    class Meta:
        model = Snapshot
        fields = [
            "uuid", "version", "source_name", "functions", "notes", "tags", "runtime_tags",
            "created_by", "created_at", "url",
        ]  # fmt: skip

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_functions(self, snapshot: Snapshot) -> list[str]:
        found = snapshot.tags_parsed.functions
        return [kind for kind in FUNCTION_KINDS if kind in found]

    def get_url(self, snapshot: Snapshot) -> str:
        return absolute_url(self.context, "api-snapshot-detail", snapshot.uuid)


class SnapshotDetailSerializer(SnapshotSummarySerializer):
    model = ModelRefSerializer()
    schemas = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True)
    parent = SnapshotRefSerializer(allow_null=True)
    training_job = serializers.UUIDField(source="training_job.uuid", allow_null=True)
    page_url = serializers.SerializerMethodField()

    class Meta(SnapshotSummarySerializer.Meta):
        fields = [
            *SnapshotSummarySerializer.Meta.fields,
            "model", "schemas", "attachments", "parent", "training_job", "page_url",
        ]  # fmt: skip

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_schemas(self, snapshot: Snapshot) -> list[str]:
        return snapshot.schema_names()

    def get_page_url(self, snapshot: Snapshot) -> str:
        return absolute_url(self.context, "registry-snapshot-detail", snapshot.uuid)


class ModelSummarySerializer(serializers.ModelSerializer):
    """A model from api.views.registry.models_for (annotated with its newest snapshot)."""

    team = serializers.CharField(source="team.name")
    owner = serializers.CharField(source="owner.username")
    latest_snapshot = serializers.SerializerMethodField()
    champion = SnapshotRefSerializer(
        allow_null=True, help_text="the snapshot jobs created by model run (null: the newest)"
    )
    snapshot_count = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()

    class Meta:
        model = Model
        fields = [
            "uuid", "name", "description", "team", "owner", "tags", "created_at",
            "latest_snapshot", "champion", "snapshot_count", "url", "page_url",
        ]  # fmt: skip

    @extend_schema_field(SnapshotRefSerializer(allow_null=True))
    def get_latest_snapshot(self, model: Model) -> dict | None:
        if model.latest_uuid is None:
            return None
        return {"uuid": model.latest_uuid, "version": model.latest_version}

    def get_url(self, model: Model) -> str:
        return absolute_url(self.context, "api-model-detail", model.uuid)

    def get_page_url(self, model: Model) -> str:
        return absolute_url(self.context, "registry-model-detail", model.uuid)


class PromotionSerializer(serializers.ModelSerializer):
    """One change of a model's champion."""

    model = ModelRefSerializer()
    snapshot = SnapshotRefSerializer(allow_null=True)
    previous = SnapshotRefSerializer(allow_null=True)
    promoted_by = serializers.CharField(
        source="promoted_by.username", allow_null=True, help_text="null: a process"
    )

    class Meta:
        model = Promotion
        fields = [
            "model", "snapshot", "previous", "promoted_by", "source", "process_run", "reason",
            "created_at",
        ]  # fmt: skip


class PromoteSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000, help_text="why"
    )
    source = serializers.ChoiceField(
        choices=[Promotion.Source.API, Promotion.Source.CLI],
        default=Promotion.Source.API,
        help_text="what the history says it came from: api (default) or cli (moc)",
    )


class ModelDetailSerializer(ModelSummarySerializer):
    snapshots = serializers.SerializerMethodField()
    promotions_url = serializers.SerializerMethodField()

    class Meta(ModelSummarySerializer.Meta):
        fields = [*ModelSummarySerializer.Meta.fields, "snapshots", "promotions_url"]

    def get_promotions_url(self, model: Model) -> str:
        return absolute_url(self.context, "api-model-promotions", model.uuid)

    @extend_schema_field(SnapshotSummarySerializer(many=True))
    def get_snapshots(self, model: Model) -> list[dict]:
        snapshots = model.snapshots.select_related("created_by").order_by("-version")
        return SnapshotSummarySerializer(snapshots, many=True, context=self.context).data


# --- Writing --------------------------------------------------------------------------------


class SnapshotCreateSerializer(serializers.Serializer):
    """multipart/form-data: the model's .py file, attachments, notes, runtime tags."""

    source = serializers.FileField(
        max_length=FILE_NAME_MAX, help_text="The model's Python source (.py) with smart tags."
    )
    attachments = serializers.ListField(
        child=serializers.FileField(max_length=FILE_NAME_MAX), required=False, default=list,
        help_text="Any number of files (repeat the field); pickles, .avsc schemas, ...",
    )  # fmt: skip
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    runtime_tags = serializers.CharField(
        required=False, allow_blank=True,
        help_text="Comma-separated tags a runtime must have to run this snapshot's jobs "
        "(a new snapshot keeps the previous one's when this is left out).",
    )  # fmt: skip

    def validate_source(self, upload):
        try:
            text = source_read(upload)
            source_check(source_name=upload.name, source=text)
        except DjangoValidationError as exc:
            raise refusal(exc) from None
        upload.text = text
        return upload

    def validate_attachments(self, files: list) -> list:
        try:
            return clean_attachment_files(files)
        except DjangoValidationError as exc:
            raise refusal(exc) from None

    def validate_runtime_tags(self, value: str) -> list[str]:
        try:
            return runtime_tags_clean(value)
        except DjangoValidationError as exc:
            raise refusal(exc) from None

    def to_internal_value(self, data) -> dict:
        attrs = super().to_internal_value(data)
        if "runtime_tags" not in data:  # a form's missing field reads as ""
            attrs["runtime_tags"] = None
        return attrs

    def validate(self, attrs: dict) -> dict:
        source = attrs["source"]
        if any(f.name == source.name for f in attrs.get("attachments", [])):
            raise serializers.ValidationError(
                {"attachments": [f"An attachment cannot have the source's name ({source.name})."]}
            )
        return attrs


class SnapshotAddSerializer(SnapshotCreateSerializer):
    keep_attachments = serializers.BooleanField(
        required=False, default=True,
        help_text="Carry over the previous snapshot's attachments not replaced by new ones.",
    )  # fmt: skip


class ModelCreateSerializer(SnapshotCreateSerializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    team = serializers.CharField(
        required=False, help_text="A team you belong to; defaults to your only team."
    )
    tags = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Comma-separated."
    )

    def validate_tags(self, value: str) -> list[str]:
        return comma_list(value)

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        teams = user_teams(user=self.context["request"].user).order_by("name")
        names = [team.name for team in teams]
        wanted = attrs.get("team")
        if wanted:
            team = next((t for t in teams if t.name == wanted), None)
            if team is None:
                raise serializers.ValidationError(
                    {"team": [f"You are not in a team named {wanted!r}; yours: "
                              f"{', '.join(names) or 'none'}."]}
                )  # fmt: skip
        elif len(names) == 1:
            team = teams[0]
        elif not names:
            raise serializers.ValidationError(
                {"team": ["You are in no team; ask an admin to add you to one."]}
            )
        else:
            raise serializers.ValidationError({"team": [f"Choose a team: {', '.join(names)}."]})
        attrs["team"] = team
        return attrs
