"""The jobs list: keyset pages, a bounded count, and its one live poll (running rows, and on
the first page of the newest-first list, jobs newer than its top row)."""

from __future__ import annotations

import hashlib
import operator
import time
from datetime import UTC, datetime
from functools import reduce
from uuid import UUID

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.cache import cache
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.cache import cache_control
from django.views.decorators.http import condition, require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from commandcenter.lib.keyset import KeysetPage, cursor_encode, keyset_page, newer_than
from commandcenter.lib.oneatatime import one_at_a_time
from commandcenter.lib.prepared import PreparedQuery
from jobs.forms import JobFilterForm
from jobs.models import TERMINAL_STATUSES
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
    results, live_ids = _results(request, filters, sort)
    if wants_partial(request):
        return HttpResponse(results)
    context = {
        "form": form,
        "form_key": form.render_key(),
        "results": results,
        "live_ids": live_ids,
    }
    return render(request, "jobs/job_list.html", context)


# The first page of each sort and filter is rendered once for each state of its rows and kept
# (the list is where people land, and what they reload): the state is read by a prepared
# query of plain values, as the rows poll's ETag is, and so is the count. A kept copy is shown
# only while nothing it says changed: its rows (the ETag's fields), the count, the user and
# the address (filters, sort), and the time, as far as the rows show it (the age of a job in
# words, a running job's duration). What the rows show of other objects (a model renamed) is
# kept for at most RESULTS_CACHE_SECONDS, as the rows themselves already were.
RESULTS_CACHE_SECONDS = 60
RESULTS_VERSION = "1"  # bump when the results template changes
_FILTERS = ("status", "job_type", "model", "q")
STATE_FIELDS = (*ETAG_FIELDS, "created_at", "id")
_STATE_STATUS, _STATE_CREATED = STATE_FIELDS.index("status"), STATE_FIELDS.index("created_at")


def _visible_query(is_staff: bool, sort: str, present: tuple, counting: bool, **values):
    user = get_user_model()(pk=values.pop("user_id"), is_staff=is_staff)
    filters = {"sort": sort, **{name: values[name] for name in present}}
    return job_list(user=user, filters=filters, counting=counting)


def _state_query(is_staff: bool, sort: str, present: tuple, **values):
    visible = _visible_query(is_staff, sort, present, False, **values)
    return visible.values_list(*STATE_FIELDS)[: JOBS_PER_PAGE + 1]


def _count_query(is_staff: bool, present: tuple, **values):
    visible = _visible_query(is_staff, "", present, True, **values)
    return visible.order_by().values_list("pk")[: JOBS_COUNTED + 1]


_first_page_state = PreparedQuery(_state_query)
_count = PreparedQuery(_count_query)


def _results(request: HttpRequest, filters: dict, sort: str) -> tuple[str, list[str]]:
    """The results region's HTML, and the ids of its rows that have not ended."""
    user = request.user
    present = tuple(name for name in _FILTERS if filters.get(name))
    values = {"user_id": user.pk, **{name: filters[name] for name in present}}
    total = _total(_counted(bool(user.is_staff), present, values))
    if any(request.GET.get(name) for name in ("after", "before", "page")):
        return _results_render(request, filters, sort, total)
    state = _first_page_state.raw_rows(bool(user.is_staff), sort, present, **values)
    text = repr((RESULTS_VERSION, user.pk, user.is_staff, request.get_full_path(), total, state))
    key = "jobs-list-results:" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    kept = _kept(key)
    if kept is None:
        with one_at_a_time(key) as first:
            if not first:  # another thread rendered it meanwhile
                kept = _kept(key)
            if kept is None:
                now = time.time()
                results, live_ids = _results_render(request, filters, sort, total)
                until = _valid_until(state, now)
                cache.set(key, (results, live_ids, until), RESULTS_CACHE_SECONDS)
                return results, live_ids
    return mark_safe(kept[0]), kept[1]  # noqa: S308 - the HTML this view rendered


def _kept(key: str) -> tuple | None:
    kept = cache.get(key)
    return kept if kept is not None and time.time() < kept[2] else None


def _counted(is_staff: bool, present: tuple, values: dict) -> int:
    """The count of the jobs the filters find, up to JOBS_COUNTED + 1. "More than JOBS_COUNTED"
    is kept for RESULTS_CACHE_SECONDS (it cost a third of the list's database time, 1,001 index
    entries read): jobs are never deleted here, so such a count falls only when the user leaves
    a team, or for a filter on a status jobs leave (waiting, running), which is counted each
    time."""
    keep = values.get("status", "") in ("", *TERMINAL_STATUSES)
    key = (
        "jobs-list-count:"
        + hashlib.blake2b(
            repr((is_staff, sorted(values.items()))).encode(), digest_size=16
        ).hexdigest()
    )
    if keep and cache.get(key):
        return JOBS_COUNTED + 1
    found = _count.count(is_staff, present, **values)
    if keep and found > JOBS_COUNTED:
        cache.set(key, True, RESULTS_CACHE_SECONDS)
    return found


def _timestamp(value: datetime) -> float:
    """A datetime as the database driver gives it (SQLite's: naive, in UTC), as a POSIX
    timestamp."""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _valid_until(state: list[tuple], now: float) -> float:
    """When the first of these rows shows something else with no change of its own: the next
    second while one has not ended (its duration and rate), else the next change of a job's
    age in words ("5 minutes ago": whole seconds under a minute, minutes under an hour, whole
    hours above; every coarser unit changes on a whole hour of age too)."""
    until = now + RESULTS_CACHE_SECONDS
    for row in state[:JOBS_PER_PAGE]:
        if row[_STATE_STATUS] not in TERMINAL_STATUSES:
            return min(until, now + 1)
        age = now - _timestamp(row[_STATE_CREATED])
        step = 1 if age < 60 else 60 if age < 3600 else 3600
        until = min(until, now + step - age % step)
    return until


def _results_render(
    request: HttpRequest, filters: dict, sort: str, total: str
) -> tuple[str, list[str]]:
    visible = job_list(user=request.user, filters=filters)
    page = _page(request, job_list_rows(visible), sort)
    _rows_prepare(page.object_list)
    context = {
        "page": page,
        "total": total,
        **_poll_context(request, page.object_list, watch=_watch_cursor(page, sort)),
    }
    results = render_to_string("jobs/job_list.html#results", context, request)
    return results, context["live_ids"]


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


def _total(found: int) -> str:
    """How many jobs the filters find, as counted: up to JOBS_COUNTED."""
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


def _rows_state_query(is_staff: bool, n: int, **values):
    """The state of the N jobs id0 ... id<N-1> that the user may see: one value each, not
    a list (uuid IN (...)), so that the query is prepared, for each number of ids."""
    user = get_user_model()(pk=values.pop("user_id"), is_staff=is_staff)
    wanted = reduce(operator.or_, (Q(uuid=values[f"id{i}"]) for i in range(n)))
    return job_list(user=user).filter(wanted).order_by().values_list(*ETAG_FIELDS)


_rows_state = PreparedQuery(_rows_state_query)


def _rows_etag(request: HttpRequest) -> str | None:
    """The rows poll's validator: its rows' state and the newest job past ?newer=."""
    user, ids = request.user, _rows_ids(request)
    rows = []
    if ids:
        values = {f"id{i}": value for i, value in enumerate(ids)}
        rows = _rows_state.rows(bool(user.is_staff), len(ids), user_id=user.pk, **values)
    rows = sorted(rows, key=str)
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
