from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from jobs.models import Upload
from models_registry.selectors import model_list
from processes.gates import rules_parse


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
