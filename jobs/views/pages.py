from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime
from pathlib import PurePosixPath
from uuid import UUID

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import DateTimeField, JSONField, OuterRef, Q, Subquery, UUIDField
from django.db.models.functions import JSONObject
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.utils.http import content_disposition_header
from django.views.decorators.cache import cache_control
from django.views.decorators.http import condition, require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from commandcenter.lib import numbers
from commandcenter.lib.csrf import polled_token
from commandcenter.lib.oneatatime import one_at_a_time
from commandcenter.lib.prepared import PreparedQuery
from commandcenter.lib.sessions import NOT_READ, ReadAlong, along_read, read_with_session
from jobs.models import TERMINAL_STATUSES, Job, JobAsset, JobStatus, JobType
from jobs.preview import REJECTS_SHOWN, asset_preview, rejects_head
from jobs.selectors import job_list, job_visible, output_download_link
from jobs.services import job_cancel, job_rerun
from jobs.views._common import ETAG_FIELDS, ETAG_VERSION, etag, get_job_for_user, wants_partial
from jobs.views.metrics import metrics_context
from jobs.worker.reconciler import lost_notes

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 200
PUBLISHED_ITEMS_SHOWN = 10
PUBLISHED_LABELS = {"rows": "Rows written", "bytes": "Size"}


def _file_response(field, filename: str) -> FileResponse:
    try:
        handle = field.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The file is missing from storage.") from exc
    return FileResponse(handle, as_attachment=True, filename=filename)


def _published_rows(published: dict) -> list[tuple[str, str]]:
    """What publishing an external output reported, as (label, text) rows for the page."""
    rows = []
    for key, value in published.items():
        if key == "location":
            continue
        label = PUBLISHED_LABELS.get(key) or key.replace("_", " ").capitalize()
        if key == "bytes" and isinstance(value, int):
            text = filesizeformat(value)
        elif isinstance(value, int):
            text = intcomma(value)
        elif isinstance(value, list):
            shown = [str(v) for v in value[:PUBLISHED_ITEMS_SHOWN]]
            more = len(value) - len(shown)
            text = ", ".join(shown) + (f" and {more} more" if more > 0 else "")
        else:
            text = str(value)
        rows.append((label, text))
    return rows


_STAMPED = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC\] (.+)$", re.M)


def _log_events(log: str) -> list[tuple[datetime, str]]:
    """The supervisor's and the reconciler's own timestamped lines in the job log (claimed,
    inputs staged, model started, taken back from a lost worker), oldest first."""
    found = []
    for stamp, text in dict.fromkeys(_STAMPED.findall(log or "")):
        try:
            at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            continue
        found.append((at, text))
    return found


def _job_events(job: Job) -> list[tuple[datetime | None, str]]:
    """The job's own events, in order, from what it records: submitted, queued, what its
    log says with a time (claimed by a worker, inputs staged, model started, each lost
    attempt, in the order written), and how it ended."""
    events: list[tuple[datetime | None, str]] = [
        (job.created_at, f"submitted by {job.created_by.get_username()}")
    ]
    logged = _log_events(job.log)
    texts = " ".join(text for _, text in logged)
    if job.enqueued_at and not any(text.startswith("queued on") for _, text in logged):
        where = f" on the {job.runtime.name} runtime" if job.runtime else ""
        events.append((job.enqueued_at, f"queued{where}"))
    events.extend(logged)
    events.extend((None, note) for note in lost_notes(job.log) if not _STAMPED.match(note))
    if job.started_at and "claimed by worker" not in texts:
        attempt = f" (attempt {job.attempts})" if job.attempts > 1 else ""
        events.append((job.started_at, f"claimed by worker {job.worker or '?'}{attempt}"))
    if job.publishing:
        events.append((None, "began to publish its output (it can no longer be cancelled)"))
    if job.finished_at and job.is_terminal:
        if job.status == JobStatus.ERROR:
            lines = job.error_message.strip().splitlines()
            text = f"failed: {lines[0]}" if lines else "failed"
        elif job.status == JobStatus.CANCELLED:
            by = f" by {job.cancelled_by.get_username()}" if job.cancelled_by else ""
            text = f"cancelled{by}; its output was discarded"
        elif any(
            text.startswith(("output committed", "metrics saved", "trained snapshot"))
            for _, text in logged
        ):
            text = "complete"  # what it made is the logged event before
        elif job.result_snapshot_id:
            text = "new snapshot made; complete"
        elif job.job_type == JobType.METRICS:
            text = "metrics saved; complete"
        else:
            text = "output committed; complete"
        events.append((job.finished_at, text))
    return events


def _live_context(job: Job, user) -> dict:
    """What the polled part of the job page shows."""
    assets = list(job.assets.select_related("connection").order_by("direction", "position"))
    output = next((a for a in assets if a.direction == JobAsset.Direction.OUTPUT), None)
    complete = job.status == JobStatus.COMPLETE
    external = output is not None and output.is_external
    preview = asset_preview(output) if output and complete and not external else None
    return {
        "job": job,
        "inputs": [a for a in assets if a.direction == JobAsset.Direction.INPUT],
        "output": output,
        "output_link": output_download_link(output) if external and complete else "",
        "published": _published_rows(output.published) if external and complete else [],
        "rejects": [a for a in assets if a.rejects_file],
        # The first rejected records with their reasons, once the job has ended.
        "first_rejects": (
            [r for a in assets if a.rejects_file for r in rejects_head(a)][:REJECTS_SHOWN]
            if job.is_terminal and job.records_rejected
            else []
        ),
        "preview": preview,
        "log_tail": "\n".join(job.log.splitlines()[-LOG_TAIL_LINES:]),
        "events": _job_events(job),
        **metrics_context(job, user),
    }


@login_required
@require_GET
def job_detail_view(request: HttpRequest, job_uuid: UUID) -> HttpResponse:
    job = get_job_for_user(request, job_uuid)
    with numbers.digits(numbers.digits_from(request.GET.get("digits", ""))):
        return render(request, "jobs/job_detail.html", _live_context(job, request.user))


# What the live region never shows, yet a job's query would read and decode: the snapshot's
# source and the runtime's Spark configuration (the secret one decrypted).
STATUS_UNUSED = (
    "snapshot__source", "snapshot__smart_tags", "snapshot__training_data", "snapshot__notes",
    "runtime__spark_conf", "runtime__spark_secret_conf",
)  # fmt: skip


def _status_state_query(is_staff: bool, *, user_id: int, job_uuid: UUID):
    user = get_user_model()(pk=user_id, is_staff=is_staff)
    return job_list(user=user).filter(uuid=job_uuid).order_by().values_list(*ETAG_FIELDS)[:1]


# Polled every second by everyone who watches a running job: compiled once (building it cost
# the ORM twenty times what SQLite takes to run it).
_status_state = PreparedQuery(_status_state_query)


def _status_along(*, job_uuid: UUID):
    """The same state, read in the request's session query: one JSON object, or NULL."""
    visible = job_visible(user_id=OuterRef(OuterRef("user_id")),
                          is_staff=OuterRef("user__is_staff"))  # fmt: skip
    state = JSONObject(**{name: name for name in ETAG_FIELDS})
    return Subquery(
        Job.objects.filter(visible, uuid=job_uuid).order_by().values(state=state)[:1],
        output_field=JSONField(),
    )


def _datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite's: UTC


def _loader(field):
    if isinstance(field, DateTimeField):
        return _datetime
    return UUID if isinstance(field, UUIDField) else None


# What turns each of the JSON object's values back into the ORM's (the others are as JSON has them).
_STATE_LOADERS = [(name, _loader(Job._meta.get_field(name))) for name in ETAG_FIELDS]


def _state_loaded(value: dict | None) -> tuple | None:
    """The state tuple _status_state gives, from its JSON object: the same values, types
    included, as the live region's cache key is made of them."""
    if value is None:
        return None
    return tuple(
        load(value[name]) if load is not None and value[name] is not None else value[name]
        for name, load in _STATE_LOADERS
    )


_STATUS_ALONG = ReadAlong(build=_status_along, load=_state_loaded)


def _status_etag(request: HttpRequest, job_uuid: UUID) -> str | None:
    """The live region's validator: the job's state (progress and log come with updated_at),
    read as plain values with the visibility check in the session's query (or a query of
    its own); a job that has ended gets none (its 286 ends the polling)."""
    state = along_read(request, _STATUS_ALONG)
    if state is NOT_READ:
        user = request.user
        found = _status_state.rows(bool(user.is_staff), user_id=user.pk, job_uuid=job_uuid)
        state = found[0] if found else None
    request.status_state = state
    if state is None or state[_STATUS_AT] in TERMINAL_STATUSES:
        return None
    request.status_etag = etag(request, "status", *state)
    return request.status_etag


_STATUS_AT = ETAG_FIELDS.index("status")
# A running job's live region is rendered once per state and kept (every viewer of the job
# polls it each second); the CSRF token of its cancel form is put in per request. The state
# is the ETag's, so a copy is what the browser's own cache would show on a 304.
STATUS_CACHE_SECONDS = 30
_CSRF_INPUT = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*(")')
_CSRF_SLOT = "\x00csrf\x00"


def _status_render(request: HttpRequest, job: Job) -> str:
    with numbers.digits(numbers.digits_from(request.GET.get("digits", ""))):
        return render_to_string(
            "jobs/job_detail.html#live", _live_context(job, request.user), request
        )


def _status_key(request: HttpRequest, state: tuple) -> str:
    # An ended job's region shows what this user may compare it with (a metrics job's other
    # metrics jobs): that copy is the user's own. A running job's shows nobody's choices.
    viewer = request.user.pk if state[_STATUS_AT] in TERMINAL_STATUSES else ""
    parts = (ETAG_VERSION, request.GET.get("digits", ""), viewer, *state)
    text = "|".join(str(p) for p in parts)
    return "jobs-status:" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _status_cached(request: HttpRequest, job_uuid: UUID) -> tuple[str, bool]:
    """The job's live region and whether the job has ended: the copy of its state (any
    viewer's render), else a new render, kept under the state it shows. An ended job's copy
    too (for its viewer): a script or a reloaded tab may ask again and again."""
    state = request.status_state
    key = _status_key(request, state)
    kept = cache.get(key)
    if kept is None:
        with one_at_a_time(key) as first:
            if not first:  # another thread rendered this state meanwhile
                kept = cache.get(key)
            if kept is None:
                return _status_fresh(request, job_uuid)
    return kept.replace(_CSRF_SLOT, polled_token(request)), state[_STATUS_AT] in TERMINAL_STATUSES


def _status_fresh(request: HttpRequest, job_uuid: UUID) -> tuple[str, bool]:
    job = _status_job(request, job_uuid)
    content = _status_render(request, job)
    shown = tuple(getattr(job, name) for name in ETAG_FIELDS)  # newer than STATE, if it moved
    cache.set(_status_key(request, shown), _CSRF_INPUT.sub(rf"\g<1>{_CSRF_SLOT}\g<2>", content),
              STATUS_CACHE_SECONDS)  # fmt: skip
    return content, job.is_terminal


def _status_job(request: HttpRequest, job_uuid: UUID) -> Job:
    job = job_list(user=request.user).filter(uuid=job_uuid).defer(*STATUS_UNUSED).first()
    if job is None:
        raise Http404("No such job, or not one of your teams'.")
    return job


@read_with_session(_STATUS_ALONG)
@login_required
@require_GET
@condition(etag_func=_status_etag)
@cache_control(private=True, no_cache=True)
def job_status_view(request: HttpRequest, job_uuid: UUID) -> HttpResponse:
    """The live region of the job page, polled every second while the job runs. Once the job
    has ended, 286 makes htmx swap in this final content and stop polling. Unchanged since the
    browser's copy (its ETag): 304, which the browser's cache turns back into that copy."""
    state = getattr(request, "status_state", None)
    if state is None:
        raise Http404("No such job, or not one of your teams'.")
    content, ended = _status_cached(request, job_uuid)
    return HttpResponseStopPolling(content) if ended else HttpResponse(content)


@login_required
@require_POST
def job_cancel_view(request: HttpRequest, job_uuid: UUID) -> HttpResponse:
    job = get_job_for_user(request, job_uuid)
    cancelled = job_cancel(job=job, by=request.user)
    if wants_partial(request):
        job.refresh_from_db()
        return render(request, "jobs/job_detail.html#live", _live_context(job, request.user))
    job.refresh_from_db()
    if cancelled:
        messages.success(request, "Job cancelled.")
    elif not job.is_terminal:  # it began to publish its output (job_publish_decide)
        messages.info(request, "Too late to cancel: the job is publishing its output.")
    else:
        messages.info(request, f"The job had already ended ({job.get_status_display()}).")
    return redirect(job)


@login_required
@require_POST
def job_rerun_view(request: HttpRequest, job_uuid: UUID) -> HttpResponse:
    """ "Run again": a new job with the same snapshot, inputs, output and options."""
    job = get_job_for_user(request, job_uuid)
    try:
        new_job = job_rerun(job=job, user=request.user)
    except ValidationError as exc:  # e.g. a connection this user may no longer use
        messages.error(request, "This job cannot be run again: " + " ".join(exc.messages))
        return redirect(job)
    messages.success(request, "Job submitted.")
    return redirect(new_job)


@login_required
@require_GET
def job_output_download_view(request: HttpRequest, job_uuid: UUID) -> FileResponse:
    job = get_job_for_user(request, job_uuid)
    output = job.output_asset()
    if output is None or not output.file:
        raise Http404("This job has no output file yet.")
    return _file_response(output.file, output.name)


@login_required
@require_GET
def job_asset_download_view(request: HttpRequest, job_uuid: UUID, asset_uuid: UUID):
    """An input asset as it was given: the uploaded file, or the embedded data as a file."""
    job = get_job_for_user(request, job_uuid)
    asset = get_object_or_404(job.assets, uuid=asset_uuid, direction=JobAsset.Direction.INPUT)
    if asset.kind == JobAsset.Kind.EMBEDDED:
        response = HttpResponse(asset.data, content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = content_disposition_header(True, asset.name)
        return response
    if not asset.file:
        raise Http404("This input has no stored file.")
    return _file_response(asset.file, asset.name)


@login_required
@require_GET
def job_rejects_download_view(request: HttpRequest, job_uuid: UUID, asset_uuid: UUID):
    job = get_job_for_user(request, job_uuid)
    asset = get_object_or_404(job.assets.filter(~Q(rejects_file="")), uuid=asset_uuid)
    return _file_response(asset.rejects_file, PurePosixPath(asset.rejects_file.name).name)
