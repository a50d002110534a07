from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.contrib.auth import get_user_model
from django.urls import reverse

from commandcenter.lib.prepared import PreparedQuery
from processes.selectors import runs_waiting_approval

APPROVALS_SHOWN = 20


@dataclass(frozen=True)
class WaitingRun:
    uuid: UUID
    process_name: str

    def get_absolute_url(self) -> str:
        return reverse("processes-run", args=[self.uuid])


def _waiting_query(is_staff: bool, *, user_id: int):
    user = get_user_model()(pk=user_id, is_staff=is_staff)
    return runs_waiting_approval(user=user).values_list("uuid", "process__name")[:APPROVALS_SHOWN]


# Asked on every page: prepared (commandcenter/lib/prepared.py), as plain values.
_waiting = PreparedQuery(_waiting_query)


def approvals(request):
    """The runs waiting for an approval the person may give, shown on every page (their home
    page included); read only when a template asks."""
    user = getattr(request, "user", None)

    def waiting():
        if user is None or not user.is_authenticated:
            return []
        rows = _waiting.rows(bool(user.is_staff), user_id=user.pk)
        return [WaitingRun(uuid=uuid, process_name=name) for uuid, name in rows]

    return {"approvals_waiting": waiting}
