"""Keyset ("seek") pages of a query set: the next page is the rows past the last row shown,
found through an index, however deep the page; no OFFSET and no COUNT(*) of the whole set.

A position is the values of the sort's keys in the last (or first) row, sent back as an opaque
cursor. DRF's CursorPagination keys on one field and counts ties with an offset, which a sort by
status (100,000 rows of one status) turns back into an OFFSET; here every key is in the cursor.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime

# (field name, descending) in order; the last key must be unique (the primary key).
Keys = tuple[tuple[str, bool], ...]


@dataclass
class KeysetPage:
    object_list: list = field(default_factory=list)
    next_cursor: str = ""  # the rows after this page ("older" for a newest-first sort)
    previous_cursor: str = ""  # the rows before it

    @property
    def has_next(self) -> bool:
        return bool(self.next_cursor)

    @property
    def has_previous(self) -> bool:
        return bool(self.previous_cursor)

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous


def cursor_encode(obj, keys: Keys) -> str:
    values = []
    for name, _ in keys:
        value = getattr(obj, name)
        values.append(value.isoformat() if isinstance(value, datetime) else value)
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def cursor_decode(cursor: str, keys: Keys, model) -> list | None:
    """The key values of CURSOR, or None when it is not one of ours (a first page is shown)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if not isinstance(values, list) or len(values) != len(keys):
        return None
    decoded = []
    for (name, _), value in zip(keys, values, strict=True):
        kind = model._meta.get_field(name).get_internal_type()
        if kind == "DateTimeField":
            when = parse_datetime(value) if isinstance(value, str) else None
            if when is None or when.tzinfo is None:
                return None
            decoded.append(when)
        elif kind in ("AutoField", "BigAutoField", "IntegerField", "BigIntegerField"):
            if not isinstance(value, int) or isinstance(value, bool):
                return None
            decoded.append(value)
        elif isinstance(value, str) and len(value) <= 200:
            decoded.append(value)
        else:
            return None
    return decoded


def _past_pks(qs: QuerySet, keys: Keys, values: list, *, forward: bool, limit: int) -> list:
    """The primary keys of the first LIMIT rows strictly past VALUES in the KEYS order
    (FORWARD) or before them, in that order. One simple query per key, ties first: rows equal
    on the first keys and past on the next, then past on the first key alone. A single
    query with the OR of these is the same set, but PostgreSQL misjudges its size, joins
    every job and sorts them (120 ms for 100,000 jobs); each of these is an index range."""
    order = _ordering(keys, forward=forward)
    found: list = []
    for i in range(len(keys) - 1, -1, -1):
        name, descending = keys[i]
        op = "lt" if descending == forward else "gt"
        where = {keys[j][0]: values[j] for j in range(i)}
        where[f"{name}__{op}"] = values[i]
        need = limit - len(found)
        found += list(qs.filter(**where).order_by(*order).values_list("pk", flat=True)[:need])
        if len(found) >= limit:
            break
    return found


def _ordering(keys: Keys, *, forward: bool) -> list[str]:
    return [("-" if descending == forward else "") + name for name, descending in keys]


def keyset_page(
    qs: QuerySet, *, keys: Keys, per_page: int, after: str = "", before: str = ""
) -> KeysetPage:
    """A page of QS in KEYS order: the first, the one after the cursor AFTER, or the one before
    the cursor BEFORE."""
    model = qs.model
    position = cursor_decode(after, keys, model) if after else None
    forward = True
    if position is None and before:
        position = cursor_decode(before, keys, model)
        forward = position is None
    order = _ordering(keys, forward=forward)
    if position is None:
        rows = list(qs.order_by(*order)[: per_page + 1])
    else:
        pks = _past_pks(qs, keys, position, forward=forward, limit=per_page + 1)
        rows = list(qs.filter(pk__in=pks).order_by(*order)) if pks else []
    more = len(rows) > per_page
    rows = rows[:per_page]
    if not forward:
        rows.reverse()
    page = KeysetPage(object_list=rows)
    if rows:
        if more or not forward:  # going back, the cursor's own row comes next
            page.next_cursor = cursor_encode(rows[-1], keys)
        if position is not None and (forward or more):
            page.previous_cursor = cursor_encode(rows[0], keys)
    return page


def newer_than(qs: QuerySet, *, keys: Keys, cursor: str, limit: int) -> QuerySet:
    """The first LIMIT rows of QS before the cursor (for a newest-first sort: the newer ones,
    the newest first); none when CURSOR is not one of ours."""
    position = cursor_decode(cursor, keys, qs.model)
    if position is None:
        return qs.none()
    pks = _past_pks(qs, keys, position, forward=False, limit=limit)
    return qs.filter(pk__in=pks).order_by(*_ordering(keys, forward=True))
