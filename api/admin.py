from __future__ import annotations

from django.contrib import admin

from api.authentication import token_expires_at
from api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff see who holds a token and end one by deleting it; tokens come from log-ins and
    `manage.py api_token` (the key is shown only then)."""

    list_display = ("user", "prefix", "created_at", "expires_at")
    search_fields = ("user__username", "prefix")
    list_select_related = ("user",)
    fields = ("user", "prefix", "created_at", "expires_at")
    readonly_fields = fields

    @admin.display(description="expires")
    def expires_at(self, token: ApiToken):
        return token_expires_at(token)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
