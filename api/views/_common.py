from __future__ import annotations

from django.db.models import Model, QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import BaseContentNegotiation


def visible_or_404(queryset: QuerySet, **lookup) -> Model:
    """The object among those the user may see (a selector's queryset), else 404: an
    outsider cannot tell an invisible object from one that does not exist."""
    found = queryset.filter(**lookup).first()
    if found is None:
        raise NotFound()
    return found


class AnyAccept(BaseContentNegotiation):
    """File answers: whatever the client accepts, it gets the file (or a JSON error)."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
