from __future__ import annotations

from django.db.models import Q, QuerySet

from audit.models import AuditEvent


def audit_event_list(*, filters: dict | None = None) -> QuerySet[AuditEvent]:
    """Events newest first, narrowed by actor (user name; "system" for none), action (exact,
    or a prefix ending in "." such as "job."), object_id."""
    filters = filters or {}
    events = AuditEvent.objects.select_related("actor").order_by("-at", "-id")
    actor = (filters.get("actor") or "").strip()
    if actor == "system":
        events = events.filter(actor_name="")
    elif actor:
        events = events.filter(actor_name__iexact=actor)
    action = (filters.get("action") or "").strip()
    if action.endswith("."):
        events = events.filter(action__startswith=action)
    elif action:
        events = events.filter(action=action)
    if filters.get("object_id"):
        events = events.filter(object_id=str(filters["object_id"]))
    return events


def audit_history(*, object_type: str, object_id, also_snapshot: bool = False):
    """The events about one object, newest first. With ALSO_SNAPSHOT, the jobs run on that
    snapshot too (their job.created events name it)."""
    query = Q(object_type=object_type, object_id=str(object_id))
    if also_snapshot:
        query |= Q(details__snapshot=str(object_id))
    return AuditEvent.objects.filter(query).order_by("-at", "-id")
