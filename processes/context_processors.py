from __future__ import annotations

from processes.selectors import runs_waiting_approval


def approvals(request):
    """The runs waiting for an approval the person may give, shown on every page (their home
    page included); read only when a template asks."""
    user = getattr(request, "user", None)

    def waiting():
        if user is None or not user.is_authenticated:
            return []
        return list(runs_waiting_approval(user=user)[:20])

    return {"approvals_waiting": waiting}
