from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

from commandcenter.lib.tags import runtime_tags_clean
from models_registry.selectors import user_teams
from models_registry.services import (
    attachment_name_clean,
    attachment_sizes_check,
    source_check,
    source_read,
)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented recipe); cleans to a list."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None) -> list[UploadedFile]:
        single_file_clean = super().clean
        if isinstance(data, list | tuple):
            return [single_file_clean(item, initial) for item in data]
        cleaned = single_file_clean(data, initial)
        return [cleaned] if cleaned else []


def clean_attachment_files(files: list[UploadedFile]) -> list[UploadedFile]:
    """Refuse names that could not be extracted as plain files next to the model source, and
    files over ATTACHMENT_MAX_BYTES (or together over SNAPSHOT_ATTACHMENTS_MAX_BYTES)."""
    names = [attachment_name_clean(f.name) for f in files]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationError(f"Two attachments are named {', '.join(duplicates)}.")
    attachment_sizes_check(files)
    return files


class SourceFormMixin:
    """Reads the uploaded .py file into text and parses its smart tags, so refusals (not
    Python, no tagged function) show on the source field instead of failing in the service."""

    def clean_source(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["source"]
        text = source_read(upload)
        source_check(source_name=upload.name, source=text)
        self.source_text = text
        return upload

    def clean_attachments(self) -> list[UploadedFile]:
        return clean_attachment_files(self.cleaned_data["attachments"])

    def clean(self) -> dict:
        cleaned = super().clean()
        source, files = cleaned.get("source"), cleaned.get("attachments") or []
        if source and any(f.name == source.name for f in files):
            self.add_error(
                "attachments", f"An attachment cannot have the source's name ({source.name})."
            )
        return cleaned


class ModelRegisterForm(SourceFormMixin, forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    team = forms.ModelChoiceField(queryset=None, empty_label=None)
    tags = forms.CharField(
        required=False, help_text="Comma separated, e.g. classification, credit-risk."
    )
    source = forms.FileField(
        label="Model source (.py)",
        help_text="Functions are found by comments such as '# modelop.score' above them.",
        widget=forms.ClearableFileInput(attrs={"accept": ".py,.py3"}),
    )
    attachments = MultipleFileField(
        required=False, help_text="Trained artifacts, schemas (.avsc), anything the code opens."
    )
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Snapshot notes"
    )
    runtime_tags = forms.CharField(
        required=False,
        label="Runtime tags",
        help_text="Tags a runtime must have to run this model's jobs, e.g. PROD, gpu. "
        "Leave blank for any runtime.",
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = user_teams(user=user).order_by("name")

    def clean_runtime_tags(self) -> list[str]:
        return runtime_tags_clean(self.cleaned_data["runtime_tags"])

    def clean_tags(self) -> list[str]:
        tags: list[str] = []
        for raw in self.cleaned_data["tags"].split(","):
            tag = raw.strip()
            if tag and tag not in tags:
                tags.append(tag)
        return tags


class SnapshotForm(SourceFormMixin, forms.Form):
    source = ModelRegisterForm.base_fields["source"]
    attachments = MultipleFileField(
        required=False, help_text="New or changed files; a file with an existing name replaces it."
    )
    keep_attachments = forms.BooleanField(
        required=False,
        initial=True,
        label="Carry over the previous snapshot's other attachments",
        help_text="Snapshots are immutable, so the new one gets its own copy of each file.",
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    runtime_tags = forms.CharField(
        required=False,
        label="Runtime tags",
        help_text="Tags a runtime must have to run this model's jobs, e.g. PROD, gpu. "
        "Leave blank for any runtime.",
    )

    def clean_runtime_tags(self) -> list[str]:
        return runtime_tags_clean(self.cleaned_data["runtime_tags"])


class PromoteForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=2000,
        label="Reason",
        widget=forms.TextInput(attrs={"placeholder": "Why (optional)"}),
    )
