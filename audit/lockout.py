"""What a locked-out log-in gets: the login page with a message saying why and for how long
(HTML), or {"detail": ...} from the API; both with status 429."""

from __future__ import annotations

import math

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

LOCKED_STATUS = 429


def lockout_message() -> str:
    minutes = max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    return (
        f"Too many failed log-ins ({settings.AXES_FAILURE_LIMIT}) for this user name from your "
        f"address: log-in is locked for {minutes} minutes. Try again later, or ask an "
        "administrator to unlock it (manage.py axes_reset_username <name>)."
    )


def lockout_response(request: HttpRequest, original_response=None, credentials=None):
    message = lockout_message()
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=LOCKED_STATUS)
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = AuthenticationForm(request, initial={"username": username})
    context = {"form": form, "locked_message": message, "next": request.POST.get("next", "")}
    response: HttpResponse = render(request, "registration/login.html", context)
    response.status_code = LOCKED_STATUS
    return response
