from __future__ import annotations

from django.http import HttpRequest


def wants_partial(request: HttpRequest) -> bool:
    """True for an htmx request that swaps a region; a history-restore request (htmx found no
    cached copy of the page on Back) needs the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request
