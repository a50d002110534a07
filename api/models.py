from __future__ import annotations

from django.conf import settings
from django.db import models

from commandcenter.lib.models import TimeStampedModel


class ApiToken(TimeStampedModel):
    """An API token, kept as the SHA-256 of its key: the key is shown once, when it is issued,
    and the database (or a copy of it) holds none that works. Its first characters find the
    row; the digest is compared in constant time."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    prefix = models.CharField(max_length=8, db_index=True)
    digest = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"
