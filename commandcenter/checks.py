from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_database_url(app_configs, **kwargs):
    errors = []
    url = settings.DATABASE_URL
    if url and not url.startswith(("postgres://", "postgresql://", "sqlite://")):
        errors.append(
            Error(
                f"DATABASE_URL must start with postgres:// (or sqlite://), not {url.split(':')[0]}://",
                id="commandcenter.E001",
            )
        )
    if settings.BROKER_URL and not settings.BROKER_URL.startswith(
        ("redis://", "rediss://", "amqp://")
    ):
        errors.append(
            Error("BROKER_URL must be a redis:// or amqp:// URL.", id="commandcenter.E002")
        )
    return errors
