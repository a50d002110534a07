from __future__ import annotations

import json
import logging
from urllib.parse import unquote, urlsplit

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import path, reverse

from audit.services import Action, audit_record
from commandcenter.lib.tags import runtime_tags_clean
from jobs.models import Connection, Job, JobAsset, Runtime, Upload, Worker
from jobs.selectors import runtime_health, worker_state
from jobs.services import job_cancel
from jobs.views._common import call_with_timeout

logger = logging.getLogger(__name__)

# A connection test that hangs (a firewall dropping packets) must not hold the admin forever.
CONNECTION_TEST_TIMEOUT = 30.0
SECRET_SET_HELP = "set — leave blank to keep"
SCRUBBED = "•••"


# --- Connections --------------------------------------------------------------------------


def _secret_values(connection: Connection) -> list[str]:
    """Every stored secret of CONNECTION, and the password inside its DSN, longest first."""
    values = [getattr(connection, name) for name in Connection.SECRET_FIELDS]
    if connection.dsn:
        try:
            password = urlsplit(connection.dsn).password
        except ValueError:
            password = None
        if password:
            values += [password, unquote(password)]
    return sorted({v for v in values if v and len(v) >= 3}, key=len, reverse=True)


def scrub_secrets(text: str, connection: Connection) -> str:
    for value in _secret_values(connection):
        text = text.replace(value, SCRUBBED)
    return text


def connection_test_result(connection: Connection) -> tuple[bool, str]:
    """(reached, message) of jobs.assets.connection_test, secrets scrubbed out of the message
    whatever went wrong: connection_test should never include them, this makes sure."""
    from jobs.assets import connection_test

    try:
        finished, result = call_with_timeout(
            lambda: connection_test(connection), timeout=CONNECTION_TEST_TIMEOUT
        )
    except ValidationError as exc:
        message = " ".join(exc.messages)
        ok = False
    except ImportError:
        message = f"{connection.get_kind_display()} connections are not supported yet."
        ok = False
    except Exception as exc:  # any failure is a result to show, not a server error
        logger.info("connection test of %s failed", connection.pk, exc_info=True)
        message = str(exc) or exc.__class__.__name__
        ok = False
    else:
        ok = finished
        message = (
            str(result or "reached")
            if finished
            else f"no answer within {CONNECTION_TEST_TIMEOUT:.0f} seconds"
        )
    return ok, f"{connection.name}: {scrub_secrets(message, connection)}"


class ConnectionAdminForm(forms.ModelForm):
    """Secrets are write-only: never rendered back, and a blank field keeps the stored value
    (a "clear" box removes it)."""

    secret_access_key = forms.CharField(
        required=False,
        label="Secret access key",
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    dsn = forms.CharField(
        required=False,
        label="DSN",
        max_length=1000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_secret_access_key = forms.BooleanField(
        required=False, label="Remove the stored secret access key"
    )
    clear_dsn = forms.BooleanField(required=False, label="Remove the stored DSN")

    class Meta:
        model = Connection
        fields = (
            "name", "kind", "description", "teams", "endpoint_url", "region", "access_key_id",
            "secret_access_key", "use_worker_credentials", "webhdfs_url", "hdfs_user", "dsn",
            "statement_timeout_seconds",
        )  # fmt: skip

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        model_help = {name: Connection._meta.get_field(name).help_text for name in ("dsn",)}
        for name in Connection.SECRET_FIELDS:
            stored = bool(self.instance.pk and getattr(self.instance, name))
            help_text = SECRET_SET_HELP if stored else "not set"
            if model_help.get(name):
                help_text = f"{help_text}. {model_help[name]}"
            self.fields[name].help_text = help_text
            if not stored:
                self.fields.pop(f"clear_{name}", None)

    def _clean_secret(self, name: str) -> str:
        value = self.cleaned_data.get(name) or ""
        if not value and self.instance.pk:
            return getattr(self.instance, name)  # blank on change: keep what is stored
        return value

    def clean_secret_access_key(self) -> str:
        return self._clean_secret("secret_access_key")

    def clean_dsn(self) -> str:
        return self._clean_secret("dsn")

    def clean(self) -> dict:
        cleaned = super().clean()
        # The clear boxes come after the secrets in the form, so redo the secrets here.
        for name in Connection.SECRET_FIELDS:
            if cleaned.get(f"clear_{name}"):
                cleaned[name] = ""
        return cleaned


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionAdminForm
    list_display = ("name", "kind", "where", "teams_shown", "credentials", "updated_at")
    list_filter = ("kind", "teams")
    search_fields = ("name", "description", "endpoint_url", "webhdfs_url")
    filter_horizontal = ("teams",)
    readonly_fields = ("uuid", "created_at", "updated_at")
    actions = ["test_connections"]
    fieldsets = (
        (None, {"fields": ("name", "kind", "description", "teams")}),
        (
            "S3",
            {
                "description": "Only for S3 connections. Blank endpoint: AWS. Without keys the "
                "connection refuses to work, unless it may use the worker's own credentials.",
                "fields": (
                    "endpoint_url",
                    "region",
                    "access_key_id",
                    "secret_access_key",
                    "clear_secret_access_key",
                    "use_worker_credentials",
                ),
            },
        ),
        (
            "HDFS",
            {"description": "Only for HDFS connections.", "fields": ("webhdfs_url", "hdfs_user")},
        ),
        (
            "SQL",
            {
                "description": "Only for SQL connections. Statements run read-only for inputs.",
                "fields": ("dsn", "clear_dsn", "statement_timeout_seconds"),
            },
        ),
        ("Record", {"classes": ("collapse",), "fields": ("uuid", "created_at", "updated_at")}),
    )

    def get_fieldsets(self, request, obj=None):
        # The clear boxes exist only when a secret is stored.
        stored = {n for n in Connection.SECRET_FIELDS if obj is not None and getattr(obj, n)}
        return [
            (title, {**opts, "fields": tuple(
                f for f in opts["fields"]
                if not f.startswith("clear_") or f.removeprefix("clear_") in stored
            )})
            for title, opts in self.fieldsets
        ]  # fmt: skip

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("teams")

    # --- Audit trail: which fields changed, by whom; never the values (secrets among them).

    def _audited_values(self, obj: Connection) -> dict:
        values = {f: getattr(obj, f) for f in ConnectionAdminForm.Meta.fields if f != "teams"}
        values["teams"] = sorted(obj.teams.values_list("pk", flat=True)) if obj.pk else []
        return values

    def save_model(self, request, obj, form, change) -> None:
        before = Connection.objects.filter(pk=obj.pk).first() if change else None
        request._audit_before = self._audited_values(before) if before else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        before, after = getattr(request, "_audit_before", None), self._audited_values(form.instance)
        if before is None:
            audit_record(action=Action.CONNECTION_CREATED, actor=request.user, obj=form.instance,
                         details={"kind": form.instance.kind})  # fmt: skip
            return
        changed = sorted(f for f in after if after[f] != before[f])
        if changed:
            audit_record(action=Action.CONNECTION_CHANGED, actor=request.user, obj=form.instance,
                         details={"fields": changed})  # fmt: skip

    def delete_model(self, request, obj) -> None:
        audit_record(action=Action.CONNECTION_DELETED, actor=request.user, obj=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            audit_record(action=Action.CONNECTION_DELETED, actor=request.user, obj=obj)
        super().delete_queryset(request, queryset)

    @admin.display(description="Where")
    def where(self, obj: Connection) -> str:
        match obj.kind:
            case Connection.Kind.S3:
                return obj.endpoint_url or f"AWS {obj.region}".strip()
            case Connection.Kind.HDFS:
                return obj.webhdfs_url
        return "database (DSN not shown)"

    @admin.display(description="Teams")
    def teams_shown(self, obj: Connection) -> str:
        return ", ".join(t.name for t in obj.teams.all()) or "every team"

    @admin.display(description="Credentials")
    def credentials(self, obj: Connection) -> str:
        stored = [n for n in Connection.SECRET_FIELDS if getattr(obj, n)]
        if stored:
            return "set"
        if obj.kind == Connection.Kind.S3 and obj.use_worker_credentials:
            return "the worker's own"
        return "none"

    def get_urls(self):
        test = path(
            "<path:object_id>/test/",
            self.admin_site.admin_view(self.test_view),
            name="jobs_connection_test",
        )
        return [test, *super().get_urls()]

    def _show_result(self, request: HttpRequest, connection: Connection) -> None:
        ok, message = connection_test_result(connection)
        if ok:
            self.message_user(request, f"Reached {message}", messages.SUCCESS)
        else:
            self.message_user(request, f"Could not reach {message}", messages.ERROR)

    @admin.action(description="Test selected connections")
    def test_connections(self, request: HttpRequest, queryset) -> None:
        for connection in queryset:
            self._show_result(request, connection)

    def test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The change page's "Test connection" button (a POST: it reaches out to a server)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        connection = self.get_object(request, unquote(object_id))
        if connection is None:
            raise Http404("No such connection.")
        if not self.has_view_or_change_permission(request, connection):
            raise PermissionDenied
        self._show_result(request, connection)
        return HttpResponseRedirect(reverse("admin:jobs_connection_change", args=[connection.pk]))


# --- Jobs -----------------------------------------------------------------------------------


class RuntimeAdminForm(forms.ModelForm):
    tags = forms.CharField(
        required=False,
        help_text="Comma separated, e.g. PROD, gpu. A snapshot that needs tags runs only on a "
        "runtime that has all of them.",
    )
    # Write-only, as a connection's secrets: never rendered back; blank keeps what is stored.
    spark_secret_conf = forms.CharField(
        required=False,
        label="Spark secret configuration",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_spark_secret_conf = forms.BooleanField(
        required=False, label="Remove the stored secret Spark configuration"
    )

    class Meta:
        model = Runtime
        fields = (
            "name", "queue", "description", "tags", "is_default", "kind", "spark_master",
            "spark_conf", "spark_secret_conf", "time_limit_seconds", "memory_limit_mb",
            "max_attempts", "allow_network", "network_ports",
        )  # fmt: skip

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.initial["tags"] = ", ".join(self.instance.tags or [])
        self.fields["kind"].required = False  # a form without it keeps the runtime's kind
        stored = bool(self.instance.pk and self.instance.spark_secret_conf)
        self.fields["spark_secret_conf"].help_text = (
            f"{SECRET_SET_HELP if stored else 'not set'}. A JSON object of Spark keys and values "
            'given to each job\'s session only, e.g. {"spark.hadoop.fs.s3a.secret.key": "..."}.'
        )

    def clean_kind(self) -> str:
        return self.cleaned_data.get("kind") or self.instance.kind or Runtime.Kind.PROCESS

    def clean_spark_secret_conf(self) -> str:
        value = (self.cleaned_data.get("spark_secret_conf") or "").strip()
        if not value:
            return self.instance.spark_secret_conf if self.instance.pk else ""
        try:
            data = json.loads(value)
        except ValueError:
            data = None
        if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
            # The value is a secret: the message never repeats it.
            raise forms.ValidationError('Enter a JSON object, e.g. {"spark.key": "value"}.')
        return json.dumps({k: str(v) for k, v in data.items()})

    def clean_spark_conf(self) -> dict:
        value = self.cleaned_data.get("spark_conf") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError(
                'Enter a JSON object, e.g. {"spark.executor.memory": "4g"}.'
            )
        return {str(k): str(v) for k, v in value.items()}

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("network_ports") and not cleaned.get("allow_network"):
            self.add_error("network_ports", "Ports limit allowed network: tick allow network too.")
        if cleaned.get("clear_spark_secret_conf"):
            cleaned["spark_secret_conf"] = ""
        if cleaned.get("kind") == Runtime.Kind.SPARK and not cleaned.get("spark_master"):
            self.add_error("spark_master", "A Spark runtime needs a master, e.g. local[*].")
        return cleaned

    def clean_tags(self) -> list[str]:
        return runtime_tags_clean(self.cleaned_data["tags"])


@admin.register(Runtime)
class RuntimeAdmin(admin.ModelAdmin):
    form = RuntimeAdminForm
    list_display = (
        "name", "queue", "tags_text", "health", "is_default", "time_limit_seconds",
        "memory_limit_mb", "max_attempts", "network_text", "kind", "spark_master",
    )  # fmt: skip
    list_filter = ("is_default", "allow_network", "kind")
    search_fields = ("name", "queue", "description")
    readonly_fields = ("uuid", "created_at", "updated_at")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("workers")

    @admin.display(description="tags")
    def tags_text(self, runtime: Runtime) -> str:
        return ", ".join(runtime.tags or [])

    @admin.display(description="model network")
    def network_text(self, runtime: Runtime) -> str:
        return runtime.network_text

    @admin.display(description="health")
    def health(self, runtime: Runtime) -> str:
        return runtime_health(runtime)


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    """Workers write these rows themselves (heartbeats); staff only look."""

    list_display = ("name", "runtime", "state", "host", "pid", "concurrency", "last_seen_at")
    list_filter = ("runtime",)
    search_fields = ("name", "host", "queue")
    list_select_related = ("runtime",)

    @admin.display(description="state")
    def state(self, worker: Worker) -> str:
        return worker_state(worker)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Worker._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "size", "created_at")
    search_fields = ("name", "owner__username", "uuid")
    readonly_fields = ("uuid", "size", "created_at", "updated_at")
    list_select_related = ("owner",)


class JobAssetInline(admin.TabularInline):
    model = JobAsset
    fields = (
        "direction", "position", "kind", "name", "connection", "location", "query", "format",
        "write_mode", "size", "file", "rejects_file", "published",
    )  # fmt: skip
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


# The worker owns these: editing them by hand would break the guarded state transitions.
JOB_READONLY = (
    "uuid", "job_type", "snapshot", "runtime", "runtime_auto", "placement", "status", "result",
    "created_by", "cancelled_by", "created_at", "updated_at", "started_at", "finished_at",
    "progress_at", "records_read", "records_written", "records_rejected", "bytes_read",
    "bytes_total", "error_message", "log", "input_schema", "output_schema",
    "check_input_schema", "check_output_schema", "worker", "attempts", "peak_memory",
)  # fmt: skip


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "uuid",
        "job_type",
        "status",
        "result",
        "snapshot",
        "runtime",
        "created_by",
        "created_at",
    )
    list_filter = ("status", "job_type", "result", "runtime", "snapshot__model__team")
    search_fields = ("uuid", "snapshot__model__name", "created_by__username")
    readonly_fields = JOB_READONLY
    list_select_related = ("snapshot", "snapshot__model", "runtime", "created_by")
    date_hierarchy = "created_at"
    inlines = [JobAssetInline]
    actions = ["cancel_jobs"]

    def has_add_permission(self, request) -> bool:
        return False  # jobs are created by job_submit (wizard, CLI, API), which validates them

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request, queryset) -> None:
        cancelled = sum(job_cancel(job=job, by=request.user) for job in queryset)
        self.message_user(
            request,
            f"{cancelled} job(s) cancelled; jobs that had ended are unchanged.",
            messages.SUCCESS,
        )


@admin.register(JobAsset)
class JobAssetAdmin(admin.ModelAdmin):
    list_display = (
        "job", "direction", "position", "kind", "name", "connection", "location", "format",
        "size",
    )  # fmt: skip
    list_filter = ("direction", "kind", "format", "connection")
    search_fields = ("job__uuid", "name", "location")
    readonly_fields = ("uuid", "job", "created_at", "updated_at", "published")
    list_select_related = ("job", "connection")
