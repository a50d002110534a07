"""The input step's preview of one chosen input: its first rows with the types read, and
"Make an input schema from this data": an extended Avro schema guessed from them, which the
person reviews and attaches. Snapshots are immutable, so attaching makes a new snapshot of
the model (the chosen one's source and attachments plus the schema), which the wizard then
uses with the schema as its input schema.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from jobs.input_schema import input_head, schema_guess
from jobs.models import JobAsset
from jobs.wizard import Wizard
from modelop.schema.infer import SchemaError, validate_schema
from models_registry.services import attachment_name_clean, snapshot_create


class SchemaAttachForm(forms.Form):
    name = forms.CharField(max_length=200, label="Attachment name")
    schema = forms.CharField(
        label="Input schema (Avro, with ModelOp's role and dataClass)",
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "class": "mono"}),
        max_length=200_000,
    )

    def __init__(self, *args, snapshot, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.snapshot = snapshot

    def clean_name(self) -> str:
        name = attachment_name_clean(self.cleaned_data["name"].strip())
        if not name.endswith(".avsc"):
            raise ValidationError("A schema attachment's name ends in .avsc.")
        if name == self.snapshot.source_name:
            raise ValidationError("That is the model source's name.")
        return name

    def clean_schema(self) -> dict:
        try:
            schema = json.loads(self.cleaned_data["schema"])
            validate_schema(schema)
        except ValueError as exc:  # SchemaError is one
            kind = "not a valid extended schema" if isinstance(exc, SchemaError) else "not JSON"
            raise ValidationError(f"The schema is {kind}: {exc}") from None
        return schema


def _input(wizard: Wizard, input_id: str) -> dict:
    for item in wizard.inputs:
        if item["id"] == input_id and item["kind"] in (JobAsset.Kind.UPLOAD, "embedded"):
            return item
    raise Http404("No such input in this wizard.")


def _format(item: dict) -> str:
    from jobs.formats import format_from_name

    if item.get("format"):
        return item["format"]
    if item["kind"] == "embedded":
        first = item["data"].lstrip()[:1]
        return {"[": "json", "{": "jsonl"}.get(first, "csv")
    return format_from_name(item.get("name", ""))


def _schema_name(stem: str) -> str:
    try:
        return attachment_name_clean(f"{stem[:150]}_schema.avsc")
    except ValidationError:  # a name the attachment rules refuse: a plain default
        return "input_schema.avsc"


@login_required
@require_http_methods(["GET", "POST"])
def wizard_input_preview_view(request: HttpRequest, input_id: str) -> HttpResponse:
    wizard = Wizard(request.session, request.user)
    if wizard.first_missing(before="inputs") or wizard.snapshot is None:
        return redirect("jobs-wizard-step", step=wizard.first_missing() or "model")
    item = _input(wizard, input_id)
    fmt = _format(item)
    upload = item.get("upload_row")
    head = input_head(fmt=fmt, data=item.get("data", ""), file=upload.file if upload else None)
    label = item.get("name") or "pasted data"
    stem = (label.rsplit(".", 1)[0] if "." in label else label).replace(" ", "_") or "input"
    snapshot = wizard.snapshot
    if request.method == "POST":
        form = SchemaAttachForm(request.POST, snapshot=snapshot)
        if form.is_valid():
            new = _attach(request, wizard, form.cleaned_data["name"], form.cleaned_data["schema"])
            if new is not None:
                return redirect("jobs-wizard-step", step="inputs")
    else:
        guess = schema_guess(head, name=stem) if not head.error else None
        form = SchemaAttachForm(
            snapshot=snapshot,
            initial={
                "name": _schema_name(stem),
                "schema": json.dumps(guess, indent=2) if guess else "",
            },
        )
    return render(
        request,
        "jobs/wizard_preview.html",
        {"item": item, "label": label, "fmt": fmt, "head": head, "form": form,
         "snapshot": snapshot, "wizard": wizard},
    )  # fmt: skip


def _attach(request: HttpRequest, wizard: Wizard, name: str, schema: dict):
    """A new snapshot: the chosen one with the schema added (or replacing one of the name)."""
    parent = wizard.snapshot
    kept = [a for a in parent.attachments.all() if a.name != name]
    files = [File(a.file.open("rb"), name=a.name) for a in kept]
    files.append(ContentFile(json.dumps(schema, indent=2).encode(), name=name))
    try:
        snapshot = snapshot_create(
            model=parent.model, created_by=request.user, source_name=parent.source_name,
            source=parent.source, attachments=files, tags=parent.tags, parent=parent,
            notes=f"v{parent.version} with the input schema {name}, made in the job wizard.",
            _smart_tags=parent.smart_tags,
        )  # fmt: skip
    except ValidationError as exc:
        messages.error(request, f"The schema could not be attached: {' '.join(exc.messages)}")
        return None
    finally:
        for f in files:
            f.close()
    kept_answers = {k: wizard.answer(k) for k in ("type", "evaluator", "schemas")}
    wizard.save("snapshot", str(snapshot.uuid))
    for key in ("type", "evaluator"):
        if kept_answers[key] is not None:
            wizard.save(key, kept_answers[key])
    schemas = dict(kept_answers["schemas"] or {})
    wizard.save(
        "schemas", {**schemas, "input": name, "check_input": schemas.get("check_input", False)}
    )
    messages.success(
        request,
        f"Snapshots are immutable, so {name} was attached to a new snapshot, "
        f"v{snapshot.version} of {parent.model.name}; this job now runs it with {name} as its "
        "input schema.",
    )
    return snapshot
