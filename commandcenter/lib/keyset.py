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
from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet
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


def _past(keys: Keys, values: list, *, forward: bool) -> Q:
    """Rows strictly past VALUES in the KEYS order (FORWARD) or before them. The first key's
    range comes first, alone, so that the database starts its index scan there."""
    terms = []
    for i, (name, descending) in enumerate(keys):
        op = "lt" if descending == forward else "gt"
        equal = {keys[j][0]: values[j] for j in range(i)}
        terms.append(Q(**equal, **{f"{name}__{op}": values[i]}))
    first, descending = keys[0]
    bound = Q(**{f"{first}__{'lte' if descending == forward else 'gte'}": values[0]})
    return bound & reduce(or_, terms)


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
    page_qs = qs.order_by(*_ordering(keys, forward=forward))
    if position is not None:
        page_qs = page_qs.filter(_past(keys, position, forward=forward))
    rows = list(page_qs[: per_page + 1])
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


def newer_than(qs: QuerySet, *, keys: Keys, cursor: str) -> QuerySet:
    """The rows of QS before the cursor (for a newest-first sort: the newer ones), in KEYS
    order; none when CURSOR is not one of ours."""
    position = cursor_decode(cursor, keys, qs.model)
    if position is None:
        return qs.none()
    return qs.filter(_past(keys, position, forward=False)).order_by(*_ordering(keys, forward=True))
