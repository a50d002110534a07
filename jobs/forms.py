"""Forms of the job pages: one per wizard step, and the jobs list filter."""

from __future__ import annotations

import hashlib

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from commandcenter.lib.prepared import PreparedQuery
from jobs.formats import format_from_name
from jobs.models import ASSET_ROLES, AssetFormat, Connection, JobAsset, JobStatus, JobType, Runtime
from jobs.selectors import connection_list
from jobs.services import EXTERNAL_KINDS
from jobs.wizard import AUTO_RUNTIME, job_type_availability
from models_registry.models import Model, Snapshot
from models_registry.selectors import model_choices, model_list, snapshot_list
from models_registry.services import attachment_name_clean

ATTACHMENT = "attachment"  # an input kind of the wizard only: it becomes an upload
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
        self.runtimes = list(Runtime.objects.order_by("name").prefetch_related("workers"))
        self.fields["runtime"].choices = [
            (AUTO_RUNTIME, "Let the system choose"),
            *((str(r.uuid), r.name) for r in self.runtimes),
        ]


class JobTypeStepForm(forms.Form):
    job_type = forms.ChoiceField(choices=JobType.choices)
    evaluator = forms.BooleanField(
        required=False,
        label="Also run the built-in evaluator",
        help_text=(
            "For metrics jobs: efficacy, fairness per protected attribute and feature "
            "importance, from the input schema's column roles (label, score, protectedClass)."
        ),
    )

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


KIND_NAMES = {JobAsset.Kind.S3: "S3", JobAsset.Kind.HDFS: "HDFS", JobAsset.Kind.SQL: "SQL"}


def no_connections_message(kind: str) -> str:
    return (
        f"No {KIND_NAMES[kind]} connections yet: an administrator adds them in Admin → Connections."
    )


def _connection_field(kind: str) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=Connection.objects.none(),
        to_field_name="uuid",
        required=False,
        label=f"{KIND_NAMES[kind]} connection",
        empty_label="Choose a connection",
        error_messages={"invalid_choice": "Choose one of the connections offered here."},
    )


class ConnectionFieldsMixin:
    """The connection selects of a form offer only the connections USER may use, per kind; a
    single one is preselected."""

    def _set_connections(self, user) -> None:
        self.connection_counts = {}
        for kind in EXTERNAL_KINDS:
            field = self.fields[f"{kind}_connection"]
            field.queryset = connection_list(user=user, kind=kind).order_by("name")
            field.label_from_instance = lambda connection: connection.name  # the kind is known
            choices = list(field.queryset[:2])
            self.connection_counts[kind] = len(choices)
            if len(choices) == 1:
                field.initial = str(choices[0].uuid)

    def _external(self, cleaned: dict, kind: str, where_field: str, what: str) -> None:
        """Check that KIND's connection and its WHERE_FIELD are given; fill cleaned's
        connection and location."""
        connection = cleaned.get(f"{kind}_connection")
        where = (cleaned.get(where_field) or "").strip()
        if not where:
            self.add_error(where_field, f"Enter {what}.")
        if connection is None and f"{kind}_connection" not in self.errors:
            message = (
                no_connections_message(kind)
                if not self.connection_counts[kind]
                else f"Choose a {KIND_NAMES[kind]} connection."
            )
            self.add_error(f"{kind}_connection", message)
        cleaned["connection"] = connection
        cleaned["where"] = where


class InputAddForm(ConnectionFieldsMixin, forms.Form):
    """Adds one input: an uploaded file (stored at once), pasted data, or data on an S3, HDFS
    or SQL connection. Without JavaScript every kind's fields are shown; the kind radio says
    which to use, and when it is not chosen the kind is the one whose fields were filled in."""

    kind = forms.ChoiceField(
        required=False,
        widget=forms.RadioSelect,
        choices=[
            (JobAsset.Kind.UPLOAD, "File from your computer"),
            (ATTACHMENT, "An attachment of the snapshot"),
            (JobAsset.Kind.EMBEDDED, "Pasted data"),
            (JobAsset.Kind.S3, "S3"),
            (JobAsset.Kind.HDFS, "HDFS"),
            (JobAsset.Kind.SQL, "SQL query"),
        ],
        label="Kind of input",
    )
    file = forms.FileField(required=False, label="Upload a file")
    attachment = forms.ChoiceField(required=False, label="Attachment")
    data = forms.CharField(
        required=False,
        strip=False,
        label="Paste the data",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text="JSON lines, a JSON array or CSV, kept with the job (embedded).",
    )
    s3_connection = _connection_field(JobAsset.Kind.S3)
    s3_location = forms.CharField(
        required=False,
        max_length=1000,
        label="S3 location",
        widget=forms.TextInput(attrs={"placeholder": "s3://bucket/path/data.csv"}),
        help_text="A key, or a prefix ending in / to read every file under it, in order.",
    )
    hdfs_connection = _connection_field(JobAsset.Kind.HDFS)
    hdfs_location = forms.CharField(
        required=False,
        max_length=1000,
        label="HDFS location",
        widget=forms.TextInput(attrs={"placeholder": "hdfs://namenode/path/data.parquet"}),
        help_text="A file, or a directory ending in / to read every file in it.",
    )
    sql_connection = _connection_field(JobAsset.Kind.SQL)
    sql_query = forms.CharField(
        required=False,
        label="SELECT statement",
        widget=forms.Textarea(
            attrs={"rows": 4, "spellcheck": "false", "placeholder": "SELECT * FROM customers"}
        ),
        help_text="Read-only, with the connection's statement timeout; rows arrive as Parquet.",
    )
    format = forms.ChoiceField(choices=FORMAT_CHOICES, required=False, label="Format")
    role = forms.ChoiceField(
        choices=[("", "Default for the job type")] + [(r, r) for r in ASSET_ROLES],
        required=False,
        label="Role (ModelOp's assetRole)",
        help_text="What this input is to the model: e.g. a drift monitor's BASELINE_DATA and "
        "SAMPLE_DATA. The model reads it from the job JSON its init function gets.",
    )

    def __init__(self, *args, user, snapshot: Snapshot | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._set_connections(user)
        # The snapshot's data files (e.g. the demo's credit_test.csv) can be inputs too.
        self.attachments = {
            a.name: a
            for a in (snapshot.attachments.all() if snapshot is not None else [])
            if format_from_name(a.name, default=None)
        }
        self.fields["attachment"].choices = [
            ("", "Choose an attachment"),
            *((n, n) for n in self.attachments),
        ]

    def clean_attachment(self):
        name = self.cleaned_data.get("attachment") or ""
        return self.attachments.get(name)

    def _contents(self, cleaned: dict) -> dict[str, bool]:
        return {
            JobAsset.Kind.UPLOAD: bool(cleaned.get("file")),
            ATTACHMENT: cleaned.get("attachment") is not None,
            JobAsset.Kind.EMBEDDED: bool((cleaned.get("data") or "").strip()),
            JobAsset.Kind.S3: bool((cleaned.get("s3_location") or "").strip()),
            JobAsset.Kind.HDFS: bool((cleaned.get("hdfs_location") or "").strip()),
            JobAsset.Kind.SQL: bool((cleaned.get("sql_query") or "").strip()),
        }

    def clean(self) -> dict:
        cleaned = super().clean()
        contents = self._contents(cleaned)
        kind = cleaned.get("kind") or ""
        if not kind:
            filled = [k for k, has in contents.items() if has]
            if contents[JobAsset.Kind.UPLOAD] and contents[JobAsset.Kind.EMBEDDED]:
                raise ValidationError("Upload a file or paste data, not both at once.")
            if len(filled) > 1:
                raise ValidationError(
                    "Fill in one kind of input at a time, or choose its kind above."
                )
            kind = filled[0] if filled else ""
        elif not contents[kind] and any(contents.values()):
            label = dict(self.fields["kind"].choices)[kind]
            raise ValidationError(
                f"You chose “{label}” but filled in another kind: choose that one instead."
            )
        elif not contents[kind] and (
            kind not in EXTERNAL_KINDS or cleaned.get(f"{kind}_connection") is None
        ):
            kind = ""  # the kind was chosen but nothing filled in: an empty form
        cleaned["kind"] = kind
        cleaned["connection"], cleaned["where"] = None, ""

        if kind == JobAsset.Kind.EMBEDDED:
            data = cleaned["data"]
            if cleaned.get("format") == AssetFormat.PARQUET:
                self.add_error("format", "Parquet is binary: upload it as a file instead.")
            size = len(data.encode())
            if size > settings.EMBEDDED_INPUT_MAX_BYTES:
                self.add_error(
                    "data",
                    f"Pasted data is {size:,} bytes; the limit is "
                    f"{settings.EMBEDDED_INPUT_MAX_BYTES:,}. Upload it as a file instead.",
                )
        elif kind == JobAsset.Kind.S3:
            self._external(cleaned, kind, "s3_location", "the S3 location, like s3://bucket/key")
        elif kind == JobAsset.Kind.HDFS:
            self._external(cleaned, kind, "hdfs_location", "the HDFS location, like hdfs://nn/path")
        elif kind == JobAsset.Kind.SQL:
            self._external(cleaned, kind, "sql_query", "a SELECT statement")
        return cleaned

    @property
    def is_empty(self) -> bool:
        return not self.cleaned_data.get("kind")

    def where_field(self, kind: str) -> str:
        return "sql_query" if kind == JobAsset.Kind.SQL else f"{kind}_location"


class OutputStepForm(ConnectionFieldsMixin, forms.Form):
    kind = forms.ChoiceField(
        choices=[
            (JobAsset.Kind.EMBEDDED, "Embedded: kept with the job"),
            (JobAsset.Kind.FILE, "Stored file"),
            (JobAsset.Kind.S3, "S3"),
            (JobAsset.Kind.HDFS, "HDFS"),
            (JobAsset.Kind.SQL, "SQL table"),
        ],
        widget=forms.RadioSelect,
        initial=JobAsset.Kind.EMBEDDED,
        label="Where the output goes",
    )
    name = forms.CharField(
        required=False, max_length=200, help_text="For a stored file, e.g. scores.csv."
    )
    s3_connection = _connection_field(JobAsset.Kind.S3)
    s3_location = forms.CharField(
        required=False,
        max_length=1000,
        label="S3 location",
        widget=forms.TextInput(attrs={"placeholder": "s3://bucket/results/scores.jsonl"}),
        help_text="The key to write; it appears only when the job succeeds.",
    )
    hdfs_connection = _connection_field(JobAsset.Kind.HDFS)
    hdfs_location = forms.CharField(
        required=False,
        max_length=1000,
        label="HDFS location",
        widget=forms.TextInput(attrs={"placeholder": "hdfs://namenode/results/scores.jsonl"}),
        help_text="The file to write; it appears only when the job succeeds.",
    )
    sql_connection = _connection_field(JobAsset.Kind.SQL)
    sql_table = forms.CharField(
        required=False,
        max_length=200,
        label="Table",
        widget=forms.TextInput(attrs={"placeholder": "scores"}),
        help_text="Created when missing.",
    )
    write_mode = forms.ChoiceField(
        choices=JobAsset.WriteMode.choices,
        initial=JobAsset.WriteMode.REPLACE,
        required=False,
        widget=forms.RadioSelect,
        label="If the table has rows",
    )
    format = forms.ChoiceField(choices=FORMAT_CHOICES, required=False)

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._set_connections(user)
        self.fields["write_mode"].choices = [
            (JobAsset.WriteMode.REPLACE, "Replace them with the output"),
            (JobAsset.WriteMode.APPEND, "Append the output"),
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        kind = cleaned.get("kind")
        local = kind in (JobAsset.Kind.EMBEDDED, JobAsset.Kind.FILE)
        name = (cleaned.get("name") or "").strip() if local else ""
        cleaned["connection"], cleaned["where"] = None, ""
        cleaned["write_mode"] = cleaned.get("write_mode") or JobAsset.WriteMode.REPLACE
        if kind == JobAsset.Kind.FILE:
            if not name:
                self.add_error("name", "Give the output file a name, such as scores.csv.")
            else:
                try:
                    attachment_name_clean(name)
                except ValidationError as exc:
                    self.add_error("name", exc)
        elif kind == JobAsset.Kind.S3:
            self._external(cleaned, kind, "s3_location", "the S3 key, like s3://bucket/key")
        elif kind == JobAsset.Kind.HDFS:
            self._external(cleaned, kind, "hdfs_location", "the HDFS path, like hdfs://nn/path")
        elif kind == JobAsset.Kind.SQL:
            self._external(cleaned, kind, "sql_table", "the table to write")
        if kind != JobAsset.Kind.SQL:
            cleaned["write_mode"] = JobAsset.WriteMode.REPLACE
        cleaned["name"] = name
        if not cleaned.get("format") and name:
            cleaned["format"] = format_from_name(name)
        return cleaned

    def where_field(self, kind: str) -> str:
        return "sql_table" if kind == JobAsset.Kind.SQL else f"{kind}_location"


class RejectOptionsForm(forms.Form):
    """The review step's options for records that are rejected (ModelOp's record-level
    semantics): by default they are counted and the job goes on, ending with result FAILURE."""

    stop_on_bad_records = forms.BooleanField(
        required=False,
        label="Stop on the first bad record",
        help_text="The job then ends in ERROR naming that record, and nothing is written.",
    )
    max_rejects = forms.CharField(
        required=False,
        max_length=30,
        label="Error threshold",
        help_text="End in ERROR when more than this many records (10) or this share of them "
        "(2.5%) are rejected. Empty: no threshold.",
        widget=forms.TextInput(attrs={"placeholder": "10 or 2.5%", "inputmode": "decimal"}),
    )

    def clean_max_rejects(self) -> tuple[int | None, float | None]:
        from jobs.services.lifecycle import reject_limits_parse

        return reject_limits_parse(self.cleaned_data.get("max_rejects", ""))

    def submit_kwargs(self) -> dict:
        count, percent = self.cleaned_data["max_rejects"]
        return {
            "stop_on_bad_records": self.cleaned_data["stop_on_bad_records"],
            "max_rejects": count,
            "max_rejects_percent": percent,
        }


def _model_choices_query(is_staff: bool, *, user_id: int):
    user = get_user_model()(pk=user_id, is_staff=is_staff)
    return model_choices(user=user).values_list("uuid", "name")


# The jobs list asks for these on every load (its form's key): prepared.
_model_choice_values = PreparedQuery(_model_choices_query)


class _LazyChoices(forms.models.ModelChoiceIterator):
    """ModelChoiceIterator, reading its field's query set when iterated, not when made."""

    def __init__(self, field) -> None:
        self.field = field

    @property
    def queryset(self):
        return self.field.queryset


class _VisibleModelField(forms.ModelChoiceField):
    """The models USER may see, asked for only when a value is checked or the choices are
    shown (the jobs list keeps its rendered form: most loads need neither)."""

    iterator = _LazyChoices
    user = None

    def _get_queryset(self):
        if self._queryset is None and self.user is not None:
            self._queryset = model_choices(user=self.user)
        return self._queryset

    queryset = property(_get_queryset, forms.ModelChoiceField._set_queryset)

    def __deepcopy__(self, memo):
        result = super().__deepcopy__(memo)
        result.widget.choices = result.choices  # the copy's, not this field's
        return result


class JobFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *JobStatus.choices], required=False)
    job_type = forms.ChoiceField(choices=[("", "Any type"), *JobType.choices], required=False)
    model = _VisibleModelField(
        queryset=None,
        to_field_name="uuid",
        required=False,
        empty_label="Any model",
    )
    q = forms.CharField(
        required=False,
        max_length=200,
        label="Search",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Model, input or user", "aria-label": "Search"}
        ),
    )
    sort = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Newest first"),
            ("created", "Oldest first"),
            ("-duration", "Longest first"),
            ("duration", "Shortest first"),
            ("status", "By status"),
        ],
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["model"].user = user

    def render_key(self) -> str:
        """What the form's HTML depends on (its data and its choices of model): the list page
        keeps the rendered form by this, as rendering its widgets costs more than the rows."""
        choices = _model_choice_values.rows(bool(self.user.is_staff), user_id=self.user.pk)
        data = [
            (
                name,
                self.data.getlist(name) if hasattr(self.data, "getlist") else self.data.get(name),
            )
            for name in self.fields
        ]
        text = repr((choices, data))
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()

    def filters(self) -> dict:
        """The selector's filters; empty when the form is invalid (errors are shown)."""
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {
            "status": data["status"],
            "job_type": data["job_type"],
            "model": data["model"].uuid if data["model"] else None,
            "q": data["q"],
            "sort": data["sort"],
        }
