from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile

from commandcenter.lib.tags import runtime_tags_clean
from models_registry.forms import MultipleFileField, clean_attachment_files
from models_registry.models import Attachment, Model, Promotion, Snapshot
from models_registry.services import (
    snapshot_create,
    snapshot_promote,
    source_check,
    source_read,
)

# Snapshots are immutable: once created, their source, smart tags and files are read-only.
SNAPSHOT_FIELDS = (
    "uuid", "model", "version", "parent", "source_name", "smart_tags", "source",
    "notes", "tags", "runtime_tags", "created_by", "created_at", "updated_at",
)  # fmt: skip
SNAPSHOT_EDITABLE = ("notes", "tags", "runtime_tags")  # what a job needs, not what it is


class SnapshotInline(admin.TabularInline):
    model = Snapshot
    fields = ("version", "source_name", "notes", "created_by", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("-version",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # through the Snapshot admin's add form, which parses the source


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "owner", "champion", "created_at")
    list_filter = ("team",)
    search_fields = ("name", "description", "uuid")
    # The champion changes only by promoting a snapshot (the Snapshot admin's action, the model
    # page, the API, moc, a process), so every change is in its Promotion history.
    readonly_fields = ("uuid", "champion", "created_at", "updated_at")
    list_select_related = ("team", "owner", "champion")
    inlines = [SnapshotInline]


class AttachmentInline(admin.TabularInline):
    model = Attachment
    fields = ("name", "file", "size", "sha256")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class RuntimeTagsField(forms.CharField):
    """Runtime tags typed as "PROD, gpu"; cleans to a list."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text", "Comma separated tags a runtime must have to run this snapshot's jobs."
        )
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value) -> list[str]:
        return runtime_tags_clean(super().to_python(value))


class SnapshotChangeForm(forms.ModelForm):
    runtime_tags = RuntimeTagsField()

    class Meta:
        model = Snapshot
        fields = SNAPSHOT_EDITABLE


class SnapshotAddForm(forms.ModelForm):
    """A new snapshot, validated like the model pages do: the source must be Python with a
    tagged job function, and attachment names must be plain file names."""

    source_file = forms.FileField(label="Source (.py)")
    attachments = MultipleFileField(required=False)
    runtime_tags = RuntimeTagsField()

    class Meta:
        model = Snapshot
        fields = ("model", "notes", "tags", "runtime_tags")

    def clean_source_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["source_file"]
        self.source_text = source_read(upload)
        source_check(source_name=upload.name, source=self.source_text)
        return upload

    def clean_attachments(self) -> list[UploadedFile]:
        files = clean_attachment_files(self.cleaned_data["attachments"])
        source = self.cleaned_data.get("source_file")
        if source and any(f.name == source.name for f in files):
            raise forms.ValidationError("An attachment cannot have the source's name.")
        return files


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    list_display = ("__str__", "model", "version", "created_by", "created_at")
    list_filter = ("model__team",)
    search_fields = ("model__name", "uuid", "notes")
    list_select_related = ("model", "created_by")
    actions = ["promote"]

    @admin.action(description="Promote to champion of its model")
    def promote(self, request, queryset) -> None:
        for snapshot in queryset.select_related("model"):
            try:
                snapshot_promote(
                    snapshot=snapshot, user=request.user, source=Promotion.Source.ADMIN
                )
            except (PermissionDenied, ValidationError) as exc:
                text = " ".join(getattr(exc, "messages", None) or [str(exc)])
                self.message_user(request, f"{snapshot}: {text}", messages.ERROR)
            else:
                self.message_user(request, f"{snapshot} is now the champion.", messages.SUCCESS)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = SnapshotAddForm if obj is None else SnapshotChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("model", "source_file", "attachments", "notes", "tags", "runtime_tags")
        return SNAPSHOT_FIELDS

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return tuple(f for f in SNAPSHOT_FIELDS if f not in SNAPSHOT_EDITABLE)

    def get_inlines(self, request, obj):
        return [AttachmentInline] if obj is not None else []

    def save_form(self, request, form, change):
        if change:
            return super().save_form(request, form, change)
        # A new snapshot goes through the service: it numbers the version, stores the parsed
        # smart tags and the attachments (with sizes and digests), under the model's lock.
        data = form.cleaned_data
        model = data["model"]
        return snapshot_create(
            model=model,
            created_by=request.user,
            source_name=data["source_file"].name,
            source=form.source_text,
            attachments=data["attachments"],
            notes=data["notes"],
            tags=data["tags"] or [],
            runtime_tags=data["runtime_tags"],
            parent=model.latest_snapshot(),
        )

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ("name", "snapshot", "size", "created_at")
    search_fields = ("name", "snapshot__model__name", "sha256")
    fields = ("snapshot", "name", "file", "size", "sha256", "created_at")
    readonly_fields = fields
    list_select_related = ("snapshot", "snapshot__model")

    def has_add_permission(self, request) -> bool:
        return False  # attachments are added with their snapshot


@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    """The champion's history: an audit trail, read only."""

    list_display = ("created_at", "model", "snapshot", "previous", "promoted_by", "source")
    list_filter = ("source", "model__team")
    search_fields = ("model__name", "model__uuid", "reason", "promoted_by__username")
    fields = (
        "model", "snapshot", "previous", "promoted_by", "source", "process_run", "reason",
        "created_at",
    )  # fmt: skip
    readonly_fields = fields
    list_select_related = ("model", "snapshot", "snapshot__model", "previous", "previous__model",
                           "promoted_by")  # fmt: skip

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
