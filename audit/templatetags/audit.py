from __future__ import annotations

from django import template

from audit.selectors import audit_history

register = template.Library()

HISTORY_SHOWN = 20


@register.inclusion_tag("audit/_history.html")
def audit_history_of(obj, *, with_jobs: bool = False) -> dict:
    """The short "History" list of a job (or, WITH_JOBS, of a snapshot and the jobs run on it)."""
    events = audit_history(
        object_type=obj._meta.model_name, object_id=obj.uuid, also_snapshot=with_jobs
    )[:HISTORY_SHOWN]
    return {"events": list(events), "same_object": not with_jobs}
