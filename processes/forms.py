from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from jobs.models import Upload
from models_registry.selectors import model_list
from processes.gates import rule_parse, rules_parse


class RetrainPromoteForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    model = forms.ChoiceField()
    training_data = forms.ChoiceField(help_text="Labeled data the new version is trained on.")
    held_out_data = forms.ChoiceField(help_text="Labeled data the new version is measured on.")
    production_data = forms.ChoiceField(help_text="Data the champion scores at the end.")
    rules = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        initial="auc >= 0.80",
        help_text="One rule a line, e.g. 'auc >= 0.80' or 'disparate_impact between 0.8 and 1.25'.",
    )
    approval = forms.BooleanField(required=False, help_text="A person approves before promoting.")
    notify_email = forms.CharField(required=False, help_text="Addresses, comma separated.")
    notify_webhook = forms.URLField(required=False, assume_scheme="https")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [
            (str(m.uuid), m.name) for m in model_list(user=user).order_by("name")
        ]
        uploads = Upload.objects.filter(owner=user).order_by("-created_at")[:200]
        choices = [(str(u.uuid), f"{u.name} ({u.created_at:%Y-%m-%d %H:%M})") for u in uploads]
        for name in ("training_data", "held_out_data", "production_data"):
            self.fields[name].choices = choices

    def clean_rules(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["rules"].splitlines() if line.strip()]
        rules_parse(lines)
        if not lines:
            raise ValidationError("Give at least one gate rule.")
        return lines

    def clean_notify_email(self) -> list[str]:
        addresses = [a.strip() for a in self.cleaned_data["notify_email"].split(",") if a.strip()]
        for address in addresses:
            forms.EmailField().clean(address)
        return addresses


def _upload_choices(user):
    uploads = Upload.objects.filter(owner=user).order_by("-created_at")[:200]
    return [(str(u.uuid), f"{u.name} ({u.created_at:%Y-%m-%d %H:%M})") for u in uploads]


class ScheduledScoringForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    model = forms.ChoiceField()
    data = forms.ChoiceField(help_text="The data the champion scores.")
    cron = forms.CharField(
        max_length=100, initial="0 6 * * *", help_text="Cron, UTC: '0 6 * * *' is daily at 06:00."
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [
            (str(m.uuid), m.name) for m in model_list(user=user).order_by("name")
        ]
        self.fields["data"].choices = _upload_choices(user)


class ChampionChallengerForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    model = forms.ChoiceField()
    data = forms.ChoiceField(help_text="Labeled data both versions are measured on.")
    keys = forms.CharField(
        initial="auc", help_text="Metrics to compare, comma separated; higher is better."
    )
    margin = forms.FloatField(initial=0, min_value=0, help_text="How much better it must be.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [
            (str(m.uuid), m.name) for m in model_list(user=user).order_by("name")
        ]
        self.fields["data"].choices = _upload_choices(user)

    def clean_keys(self) -> list[str]:
        keys = [k.strip() for k in self.cleaned_data["keys"].split(",") if k.strip()]
        for key in keys:
            rule_parse(f"{key} >= 0")  # the same key syntax as gate rules
        if not keys:
            raise ValidationError("Name at least one metric.")
        return keys


class BpmnImportForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    model = forms.ChoiceField()
    bpmn = forms.FileField(label="BPMN file", help_text="A .bpmn file (BPMN 2.0 XML).")
    dmn = forms.FileField(label="DMN file", required=False, help_text="Its decision tables.")
    steps = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text='Each service task\'s step by its id, as JSON: {"evaluate": {"kind": "job", '
        '"job_type": "metrics", "snapshot": "model", "inputs": [{"upload": "<uuid>"}]}, '
        '"gate": {"kind": "gate", "job_step": "evaluate", "rules": ["auc >= 0.8"]}}',
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [
            (str(m.uuid), m.name) for m in model_list(user=user).order_by("name")
        ]

    def _text(self, name: str) -> str:
        upload = self.cleaned_data.get(name)
        if not upload:
            return ""
        if upload.size > 1_000_000:
            raise ValidationError(f"The {name.upper()} file is larger than 1 MB.")
        try:
            return upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(f"The {name.upper()} file is not UTF-8 text.") from None

    def clean_bpmn(self) -> str:
        return self._text("bpmn")

    def clean_dmn(self) -> str:
        return self._text("dmn")

    def clean_steps(self) -> dict:
        import json

        try:
            steps = json.loads(self.cleaned_data["steps"])
        except ValueError as exc:
            raise ValidationError(f"The steps are not JSON: {exc}") from None
        if not isinstance(steps, dict) or not all(isinstance(v, dict) for v in steps.values()):
            raise ValidationError("The steps are a JSON object of objects, by task id.")
        return steps


class TriggerForm(forms.Form):
    """A trigger of a process, on its page (the same checks as the admin and the API)."""

    kind = forms.ChoiceField()
    cron = forms.CharField(
        max_length=100, required=False, help_text="Schedule: cron, UTC, e.g. '0 6 * * 1'."
    )
    connection = forms.ModelChoiceField(
        queryset=None, required=False, help_text="S3, HDFS or SQL: the connection to poll."
    )
    location = forms.CharField(
        max_length=1000, required=False,
        help_text="S3: s3://bucket/prefix/ · HDFS: hdfs://namenode/folder",
    )  # fmt: skip
    query = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False,
        help_text="SQL: a SELECT whose result, when it changes, starts a run (read-only).",
    )  # fmt: skip
    job_type = forms.ChoiceField(required=False, help_text="A job finished: of this type (any).")
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, user, **kwargs):
        from jobs.models import JobType
        from jobs.selectors import connection_list
        from processes.models import Trigger

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = Trigger.Kind.choices
        self.fields["connection"].queryset = connection_list(user=user).filter(
            kind__in=["s3", "hdfs", "sql"]
        )
        self.fields["job_type"].choices = [("", "any type"), *JobType.choices]
