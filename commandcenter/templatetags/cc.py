"""Small display filters shared by the pages."""

from __future__ import annotations

from django import template
from django.conf import settings

from commandcenter.lib import numbers

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    """1:23:45 style, for elapsed times and ETAs; empty when unknown."""
    if seconds is None:
        return ""
    total = int(round(seconds))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@register.filter
def rate(value: float | None) -> str:
    """Records per second, with precision that suits the magnitude."""
    if value is None:
        return ""
    if value >= 100:
        return f"{value:,.0f}/s"
    return f"{value:,.1f}/s"


@register.simple_tag
def site_title() -> str:
    """SITE_NAME; a tag because Django's LoginView puts its own `site_name` (the host name)
    into the context, which would shadow the context processor's."""
    return settings.SITE_NAME


@register.filter
def number(value: object, places: int | None = None) -> str:
    """The one number format of the pages (commandcenter.lib.numbers): {{ auc|number }}."""
    return numbers.number(value, places)
