"""The jobs list: keyset pages, a bounded count, and its one live poll (running rows, and on
the first page of the newest-first list, jobs newer than its top row)."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.contrib.humanize.templatetags.humanize import intcomma
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import cache_control
from django.views.decorators.http import condition, require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from commandcenter.lib.keyset import KeysetPage, cursor_encode, keyset_page, newer_than
from jobs.forms import JobFilterForm
from jobs.selectors import JOB_KEYSETS, job_list, job_list_rows
from jobs.views._common import ETAG_FIELDS, etag, wants_partial

JOBS_PER_PAGE = 25
JOBS_COUNTED = 1000
MAX_PAGE_NUMBER = 10_000
NEWEST_FIRST = "-created"


@login_required
@require_GET
@vary_on_headers("HX-Request")
def job_list_view(request: HttpRequest) -> HttpResponse:
    form = JobFilterForm(request.GET, user=request.user)
    filters = form.filters()
    sort = filters.get("sort") or NEWEST_FIRST
    visible = job_list(user=request.user, filters=filters)
    page = _page(request, job_list_rows(visible), sort)
    _rows_prepare(page.object_list)
    context = {
        "form": form,
        "form_key": form.render_key() if not wants_partial(request) else "",
        "page": page,
        "total": _total(visible),
        **_poll_context(request, page.object_list, watch=_watch_cursor(page, sort)),
    }
    template = "jobs/job_list.html#results" if wants_partial(request) else "jobs/job_list.html"
    return render(request, template, context)


def _page(request: HttpRequest, jobs, sort: str) -> KeysetPage:
    """A keyset page (?after= / ?before=) for the sorts that have one, else a numbered page
    (?page=) read one row past its end to know whether another follows; no COUNT either way.
    The links keep the filters."""
    params = request.GET.copy()
    for key in ("after", "before", "page"):
        params.pop(key, None)

    def link(**cursor) -> str:
        return "?" + "&".join(p for p in (params.urlencode(), urlencode(cursor)) if p)

    if keys := JOB_KEYSETS.get(sort):
        page = keyset_page(
            jobs,
            keys=keys,
            per_page=JOBS_PER_PAGE,
            after=request.GET.get("after", "")[:500],
            before=request.GET.get("before", "")[:500],
        )
        page.next_link = link(after=page.next_cursor) if page.has_next else ""
        page.previous_link = link(before=page.previous_cursor) if page.has_previous else ""
        return page
    try:
        number = min(max(int(request.GET.get("page", "1")), 1), MAX_PAGE_NUMBER)
    except ValueError:
        number = 1
    start = (number - 1) * JOBS_PER_PAGE
    rows = list(jobs[start : start + JOBS_PER_PAGE + 1])
    page = KeysetPage(object_list=rows[:JOBS_PER_PAGE])
    page.next_cursor = str(number + 1) if len(rows) > JOBS_PER_PAGE else ""
    page.previous_cursor = str(number - 1) if number > 1 else ""
    page.next_link = link(page=number + 1) if page.has_next else ""
    page.previous_link = link(page=number - 1) if page.has_previous else ""
    return page


def _total(visible) -> str:
    """How many jobs the filters find, counted up to JOBS_COUNTED (an index scan of at most
    that many rows, not of every job)."""
    found = visible.order_by().values("pk")[: JOBS_COUNTED + 1].count()
    if found > JOBS_COUNTED:
        return f"more than {intcomma(JOBS_COUNTED)} jobs"
    return f"{intcomma(found)} job{pluralize(found)}"


def _watch_cursor(page: KeysetPage, sort: str) -> str:
    """The first page of the newest-first list watches for jobs newer than its top row."""
    if sort != NEWEST_FIRST or page.has_previous or not page.object_list:
        return ""
    return cursor_encode(page.object_list[0], JOB_KEYSETS[NEWEST_FIRST])


def _poll_context(request: HttpRequest, jobs, *, watch: str) -> dict:
    """The list's one poll: the rows that have not ended (every 2 s) and, on the first page of
    the newest-first list, jobs newer than its top row (every 5 s while none runs)."""
    live = [str(job.uuid) for job in jobs if not job.is_terminal]
    if not live and not watch:
        return {"live_ids": [], "poll_url": ""}
    params = [("ids", value) for value in live]
    if watch:
        params.append(("newer", watch))
        for key in ("status", "job_type", "model", "q"):
            if value := request.GET.get(key):
                params.append((key, value))
    return {
        "live_ids": live,
        "poll_url": reverse("jobs-list-rows") + "?" + urlencode(params),
        "poll_seconds": 2 if live else 5,
    }


def _rows_prepare(jobs) -> None:
    """What a row shows that the template cannot work out: the error's first line."""
    for job in jobs:
        lines = job.error_message.strip().splitlines()
        job.error_line = lines[0] if lines else ""


def _rows_ids(request: HttpRequest) -> list[UUID]:
    ids = []
    for value in request.GET.getlist("ids")[:JOBS_PER_PAGE]:
        try:
            ids.append(UUID(value))
        except ValueError:
            continue
    return ids


def _rows_newer(request: HttpRequest):
    """Jobs newer than ?newer= that the list's filters find, newest first, or None."""
    cursor = request.GET.get("newer", "")[:500]
    if not cursor:
        return None
    form = JobFilterForm(request.GET, user=request.user)
    filters = {**form.filters(), "sort": NEWEST_FIRST}
    return newer_than(
        job_list(user=request.user, filters=filters),
        keys=JOB_KEYSETS[NEWEST_FIRST],
        cursor=cursor,
        limit=JOBS_PER_PAGE,
    )


def _rows_etag(request: HttpRequest) -> str | None:
    """The rows poll's validator: its rows' state and the newest job past ?newer=."""
    seen = job_list(user=request.user).filter(uuid__in=_rows_ids(request))
    rows = sorted(seen.values_list(*ETAG_FIELDS), key=str)
    newer = _rows_newer(request)
    newest = newer.values_list("pk", flat=True).first() if newer is not None else None
    return etag(request, "rows", rows, newest)


@login_required
@require_GET
@condition(etag_func=_rows_etag)
@cache_control(private=True, no_cache=True)
def job_list_rows_view(request: HttpRequest) -> HttpResponse:
    """The rows of the jobs list named by ?ids=, polled while one of them has not ended: each
    row is swapped in by its id (out of band). With ?newer= (the first page of the newest-first
    list), jobs newer than that also come, at the top. 286 stops the polling once no row runs
    and nothing is watched. Unchanged since the browser's copy (its ETag): 304."""
    jobs = list(job_list_rows(job_list(user=request.user).filter(uuid__in=_rows_ids(request))))
    newer = _rows_newer(request)
    new_jobs = list(job_list_rows(newer)[:JOBS_PER_PAGE]) if newer is not None else []
    _rows_prepare(jobs + new_jobs)
    watch = request.GET.get("newer", "")[:500]
    if new_jobs:
        watch = cursor_encode(new_jobs[0], JOB_KEYSETS[NEWEST_FIRST])
    poll = _poll_context(request, new_jobs + jobs, watch=watch)
    ended = not poll["poll_url"]
    context = {"jobs": jobs, "new_jobs": new_jobs, "ended": ended, "list_url": reverse("jobs-list")}
    context.update(poll)
    # The poll itself is sent again when what it asks for changed (new rows, or rows ended).
    context["poll_changed"] = bool(new_jobs) or len(poll["live_ids"]) != len(jobs)
    content = render_to_string("jobs/job_list.html#rows", context, request)
    if ended:
        return HttpResponseStopPolling(content)
    return HttpResponse(content)
