"""The review step's "Try on the first 100 records": a dry run of the wizard's job on a
worker of its runtime (dryruns), its result shown in the review before anything is launched.

With htmx the button answers the dry run's region at once, which polls until it is over
(HTTP 286 stops the polling). Without JavaScript the POST waits for the result, up to the
dry run's time bound, then lands on the review with the result in it (?try=<uuid>).
"""

from __future__ import annotations

import time
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from dryruns.models import DryRun
from dryruns.services import dry_run_expired, dry_run_get, dry_run_start
from jobs.views._common import wants_partial
from jobs.wizard import STEP_BY_SLUG, Wizard

PARTIAL = "jobs/wizard/_dry_run.html"
_WAIT_POLL_SECONDS = 0.25


def dry_run_context(dry_run: DryRun | None, errors: list[str] | None = None) -> dict:
    expired = dry_run is not None and dry_run_expired(dry_run)
    return {
        "dry_run": dry_run,
        "dry_run_errors": errors or [],
        "dry_run_expired": expired,
        "dry_run_over": dry_run is None or dry_run.is_over or expired,
        "dry_run_records": settings.DRY_RUN_RECORDS,
        "dry_run_seconds": settings.DRY_RUN_SECONDS,
    }


def dry_run_for_review(request: HttpRequest) -> DryRun | None:
    """The dry run ?try=<uuid> names, when it is this person's."""
    try:
        value = uuid.UUID(request.GET.get("try", ""))
    except ValueError:
        return None
    return dry_run_get(user=request.user, uuid=value)


def _review_url(dry_run: DryRun | None = None) -> str:
    url = reverse("jobs-wizard-step", args=["review"])
    return f"{url}?try={dry_run.uuid}" if dry_run else url


def _partial(request: HttpRequest, context: dict, *, stop: bool = False) -> HttpResponse:
    content = render_to_string(PARTIAL, context, request)
    return HttpResponseStopPolling(content) if stop else HttpResponse(content)


@login_required
@require_POST
def wizard_try_view(request: HttpRequest) -> HttpResponse:
    wizard = Wizard(request.session, request.user)
    missing = wizard.first_missing()
    if missing:
        messages.info(request, f"First choose: {STEP_BY_SLUG[missing].title.lower()}.")
        return redirect("jobs-wizard-step", step=missing)
    try:
        dry_run = dry_run_start(user=request.user, **wizard.submit_kwargs())
    except ValidationError as exc:
        if wants_partial(request):
            return _partial(request, dry_run_context(None, exc.messages))
        for message in exc.messages:
            messages.error(request, f"The dry run could not start: {message}")
        return redirect(_review_url())
    if wants_partial(request):
        return _partial(request, dry_run_context(dry_run))
    deadline = time.monotonic() + settings.DRY_RUN_SECONDS + 30
    while time.monotonic() < deadline:
        dry_run.refresh_from_db()
        if dry_run.is_over:
            break
        time.sleep(_WAIT_POLL_SECONDS)
    return redirect(_review_url(dry_run))


@login_required
@require_GET
def dry_run_status_view(request: HttpRequest, dry_run_uuid: uuid.UUID) -> HttpResponse:
    """The dry run's region (polled by htmx); a plain browser gets the review showing it."""
    dry_run = dry_run_get(user=request.user, uuid=dry_run_uuid)
    if dry_run is None:
        raise Http404("No such dry run.")
    if not wants_partial(request):
        return redirect(_review_url(dry_run))
    context = dry_run_context(dry_run)
    return _partial(request, context, stop=context["dry_run_over"])
