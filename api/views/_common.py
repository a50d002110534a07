from __future__ import annotations

from django.db.models import Model, QuerySet
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request

from commandcenter.lib.uploads import upload_refusals


def visible_or_404(queryset: QuerySet, **lookup) -> Model:
    """The object among those the user may see (a selector's queryset), else 404: an
    outsider cannot tell an invisible object from one that does not exist."""
    found = queryset.filter(**lookup).first()
    if found is None:
        raise NotFound()
    return found


def refuse_dropped_uploads(request: Request) -> None:
    """A 400 naming each file dropped while it streamed in for being too large (see
    commandcenter.lib.uploads), before the rest of the request is looked at: a refused
    attachment must not leave a model registered without it."""
    request.data  # noqa: B018 - parsing the body is what finds them
    refusals = upload_refusals(request)
    if not refusals:
        return
    detail: dict[str, list[str]] = {}
    for field, message in refusals:
        detail.setdefault(field or "detail", []).append(message)
    if "detail" in detail:
        detail["detail"] = " ".join(detail["detail"])
    raise ValidationError(detail)


class AnyAccept(BaseContentNegotiation):
    """File answers: whatever the client accepts, it gets the file (or a JSON error)."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
