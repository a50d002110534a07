from __future__ import annotations

from django.contrib import admin, messages

from jobs.models import Job, JobAsset, Runtime, Upload
from jobs.services import job_cancel


@admin.register(Runtime)
class RuntimeAdmin(admin.ModelAdmin):
    list_display = ("name", "queue", "is_default", "created_at")
    list_filter = ("is_default",)
    search_fields = ("name", "queue", "description")
    readonly_fields = ("uuid", "created_at", "updated_at")


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "size", "created_at")
    search_fields = ("name", "owner__username", "uuid")
    readonly_fields = ("uuid", "size", "created_at", "updated_at")
    list_select_related = ("owner",)


class JobAssetInline(admin.TabularInline):
    model = JobAsset
    fields = ("direction", "position", "kind", "name", "format", "size", "file", "rejects_file")
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
    list_display = ("job", "direction", "position", "kind", "name", "format", "size")
    list_filter = ("direction", "kind", "format")
    search_fields = ("job__uuid", "name")
    readonly_fields = ("uuid", "job", "created_at", "updated_at")
    list_select_related = ("job",)
