from __future__ import annotations

from django.contrib import admin

from processes.models import Process, ProcessRun, RunStep, Trigger


class TriggerInline(admin.TabularInline):
    model = Trigger
    extra = 0
    fields = (
        "kind",
        "cron",
        "connection",
        "location",
        "query",
        "job_type",
        "next_run_at",
        "enabled",
    )


@admin.register(Process)
class ProcessAdmin(admin.ModelAdmin):
    list_display = ("name", "template", "team", "owner", "enabled", "created_at")
    list_filter = ("template", "enabled", "team")
    search_fields = ("name", "uuid")
    readonly_fields = ("uuid", "created_at", "updated_at")
    inlines = [TriggerInline]


class RunStepInline(admin.TabularInline):
    model = RunStep
    extra = 0
    can_delete = False
    fields = ("bpmn_id", "name", "kind", "status", "job", "verdict", "approver", "reason",
              "started_at", "finished_at")  # fmt: skip
    readonly_fields = fields


@admin.register(ProcessRun)
class ProcessRunAdmin(admin.ModelAdmin):
    list_display = ("uuid", "process", "status", "trigger_kind", "created_at", "finished_at")
    list_filter = ("status", "trigger_kind")
    search_fields = ("uuid", "process__name")
    readonly_fields = ("uuid", "workflow_state", "lease_until", "created_at", "updated_at")
    inlines = [RunStepInline]
