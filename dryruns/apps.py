from __future__ import annotations

from django.apps import AppConfig


class DryRunsConfig(AppConfig):
    name = "dryruns"
    verbose_name = "Dry runs"
    default_auto_field = "django.db.models.BigAutoField"
