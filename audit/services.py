from __future__ import annotations

import logging
from ipaddress import ip_address

from django.db import models

from audit.context import current_ip
from audit.models import AuditEvent

logger = logging.getLogger(__name__)


class Action:
    """The actions recorded; free text is allowed, these are the ones the code uses."""

    SNAPSHOT_REGISTERED = "snapshot.registered"
    MODEL_CREATED = "model.created"
    MODEL_PROMOTED = "model.promoted"
    JOB_CREATED = "job.created"
    JOB_CANCELLED = "job.cancelled"
    JOB_RERUN = "job.rerun"
    CONNECTION_CREATED = "connection.created"
    CONNECTION_CHANGED = "connection.changed"
    CONNECTION_DELETED = "connection.deleted"
    LOGIN_FAILED = "login.failed"
    LOGIN_LOCKED = "login.locked"


def _valid_ip(ip: str | None) -> str | None:
    if not ip:
        return None
    try:
        return str(ip_address(ip))
    except ValueError:
        return None


def audit_record(
    *,
    action: str,
    actor=None,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    label: str = "",
    details: dict | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Add one event. ACTOR None (or anonymous) means the system. OBJ fills the object's type,
    id (its uuid where it has one) and label unless they are given. DETAILS must never hold
    secrets: for a changed connection, list the changed field names only."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    if obj is not None:
        object_type = object_type or obj._meta.model_name
        object_id = object_id or str(getattr(obj, "uuid", None) or obj.pk)
        label = label or str(obj)
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "",
        object_type=object_type[:64],
        object_id=str(object_id)[:64],
        object_label=label[:200],
        details=details or {},
        ip=_valid_ip(ip or current_ip.get()),
    )
