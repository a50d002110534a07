from __future__ import annotations

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """Who did what to which object, and when. Rows are only ever added: never edited.

    The object is kept by type and id (a uuid where it has one) rather than by foreign key,
    so the trail outlives the objects it talks about (a deleted connection, a cancelled job).
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Blank for the system (a worker, a scheduled process).",
    )
    actor_name = models.CharField(max_length=150, blank=True)  # kept if the user is deleted
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    object_label = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ("-at", "-id")
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        who = self.actor_name or "system"
        return f"{self.at:%Y-%m-%d %H:%M:%S} {who} {self.action} {self.object_label}".strip()


class UserSession(AbstractBaseSession):
    """A log-in's session (the session engine's table, commandcenter/lib/sessions.py): Django's
    session row, and the user it is logged in as, kept beside the data whenever it is saved, so
    that one query reads both on every logged-in request. Deleting a user ends their sessions."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
        related_name="+",
    )  # fmt: skip

    class Meta:
        verbose_name = "session"

    @classmethod
    def get_session_store_class(cls):
        from commandcenter.lib.sessions import SessionStore

        return SessionStore
