from __future__ import annotations

from django.contrib import admin

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is written by the code, never by hand."""

    list_display = ("at", "actor_name", "action", "object_type", "object_label", "ip")
    list_filter = ("action", "object_type")
    search_fields = ("actor_name", "action", "object_id", "object_label")
    date_hierarchy = "at"
    readonly_fields = (
        "at", "actor", "actor_name", "action", "object_type", "object_id", "object_label",
        "details", "ip",
    )  # fmt: skip

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
