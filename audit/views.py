from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit.models import AuditEvent
from audit.selectors import audit_event_list

EVENTS_PER_PAGE = 50


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, help_text='A user name, or "system".')
    action = forms.ChoiceField(required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        actions = sorted(AuditEvent.objects.values_list("action", flat=True).distinct())
        prefixes = sorted({a.split(".")[0] + "." for a in actions if "." in a})
        self.fields["action"].choices = [
            ("", "Any action"),
            *[(p, f"{p}*") for p in prefixes],
            *[(a, a) for a in actions],
        ]

    def filters(self) -> dict:
        return self.cleaned_data if self.is_valid() else {}


@login_required
@require_GET
def audit_list_view(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied("The audit trail is for staff.")
    form = AuditFilterForm(request.GET)
    page = Paginator(audit_event_list(filters=form.filters()), EVENTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "audit/event_list.html", {"form": form, "page": page})
