"""Forms of the job pages: one per wizard step, and the jobs list filter."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from jobs.formats import format_from_name
from jobs.models import AssetFormat, JobAsset, JobStatus, JobType, Runtime
from jobs.wizard import AUTO_RUNTIME, job_type_availability
from models_registry.models import Model, Snapshot
from models_registry.selectors import model_list, snapshot_list
from models_registry.services import attachment_name_clean

FORMAT_CHOICES = [("", "Automatic (from the name or content)"), *AssetFormat.choices]


class ModelStepForm(forms.Form):
    model = forms.ModelChoiceField(
        queryset=Model.objects.none(),
        to_field_name="uuid",
        error_messages={"invalid_choice": "Choose one of your teams' models."},
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = model_list(user=user).filter(latest_version__isnull=False)


class SnapshotStepForm(forms.Form):
    snapshot = forms.ModelChoiceField(
        queryset=Snapshot.objects.none(),
        to_field_name="uuid",
        error_messages={"invalid_choice": "Choose one of this model's snapshots."},
    )

    def __init__(self, *args, user, model: Model, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["snapshot"].queryset = snapshot_list(user=user).filter(model=model)


class RuntimeStepForm(forms.Form):
    runtime = forms.ChoiceField()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.runtimes = list(Runtime.objects.order_by("name"))
        self.fields["runtime"].choices = [
            (AUTO_RUNTIME, "Let the system choose"),
            *((str(r.uuid), r.name) for r in self.runtimes),
        ]


class JobTypeStepForm(forms.Form):
    job_type = forms.ChoiceField(choices=JobType.choices)

    def __init__(self, *args, snapshot: Snapshot, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.availability = job_type_availability(snapshot)

    def clean_job_type(self) -> str:
        value = self.cleaned_data["job_type"]
        for choice, label, reason in self.availability:
            if choice == value and reason:
                raise ValidationError(f"{label} is not available: {reason}")
        return value


class SchemaStepForm(forms.Form):
    input_schema = forms.ChoiceField(required=False)
    output_schema = forms.ChoiceField(required=False)
    check_input = forms.BooleanField(required=False, label="Check input records")
    check_output = forms.BooleanField(required=False, label="Check output records")

    def __init__(self, *args, snapshot: Snapshot, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        names = sorted(snapshot.schema_names())
        self.schema_names = names
        choices = [("", "No schema"), *((n, n) for n in names)]
        self.fields["input_schema"].choices = choices
        self.fields["output_schema"].choices = choices

    def clean(self) -> dict:
        cleaned = super().clean()
        for side in ("input", "output"):
            if cleaned.get(f"check_{side}") and not cleaned.get(f"{side}_schema"):
                self.add_error(f"{side}_schema", f"Choose an {side} schema to check against.")
        return cleaned


class InputAddForm(forms.Form):
    """Adds one input: an uploaded file (stored at once) or pasted data."""

    file = forms.FileField(required=False, label="Upload a file")
    data = forms.CharField(
        required=False,
        strip=False,
        label="…or paste the data",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text="JSON lines, a JSON array or CSV, kept with the job (embedded).",
    )
    format = forms.ChoiceField(choices=FORMAT_CHOICES, required=False, label="Format")

    def clean(self) -> dict:
        cleaned = super().clean()
        upload, data = cleaned.get("file"), cleaned.get("data") or ""
        if upload and data.strip():
            raise ValidationError("Upload a file or paste data, not both at once.")
        if data.strip():
            if cleaned.get("format") == AssetFormat.PARQUET:
                self.add_error("format", "Parquet is binary: upload it as a file instead.")
            size = len(data.encode())
            if size > settings.EMBEDDED_INPUT_MAX_BYTES:
                self.add_error(
                    "data",
                    f"Pasted data is {size:,} bytes; the limit is "
                    f"{settings.EMBEDDED_INPUT_MAX_BYTES:,}. Upload it as a file instead.",
                )
        return cleaned

    @property
    def is_empty(self) -> bool:
        return not self.cleaned_data.get("file") and not self.cleaned_data.get("data", "").strip()


class OutputStepForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[
            (JobAsset.Kind.EMBEDDED, "Embedded: kept with the job, shown and downloadable here"),
            (JobAsset.Kind.FILE, "Stored file with a name of your choice"),
        ],
        widget=forms.RadioSelect,
        initial=JobAsset.Kind.EMBEDDED,
        label="Where the output goes",
    )
    name = forms.CharField(
        required=False, max_length=200, help_text="For a stored file, e.g. scores.csv."
    )
    format = forms.ChoiceField(choices=FORMAT_CHOICES, required=False)

    def clean(self) -> dict:
        cleaned = super().clean()
        name = (cleaned.get("name") or "").strip()
        if cleaned.get("kind") == JobAsset.Kind.FILE:
            if not name:
                self.add_error("name", "Give the output file a name, such as scores.csv.")
            else:
                try:
                    attachment_name_clean(name)
                except ValidationError as exc:
                    self.add_error("name", exc)
        cleaned["name"] = name
        if not cleaned.get("format") and name:
            cleaned["format"] = format_from_name(name)
        return cleaned


class JobFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *JobStatus.choices], required=False)
    job_type = forms.ChoiceField(choices=[("", "Any type"), *JobType.choices], required=False)
    model = forms.ModelChoiceField(
        queryset=Model.objects.none(),
        to_field_name="uuid",
        required=False,
        empty_label="Any model",
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = model_list(user=user).order_by("name")

    def filters(self) -> dict:
        """The selector's filters; empty when the form is invalid (errors are shown)."""
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {
            "status": data["status"],
            "job_type": data["job_type"],
            "model": data["model"].uuid if data["model"] else None,
        }
