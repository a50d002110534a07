"""One number format for every page: tiles, plot titles, tables.

Numbers show to NUMBER_DIGITS significant digits (4 unless configured), or as many as a person
asks for with ?digits= on a page that offers it (jobs.views.metrics); integers stay whole. The
raw JSON and the downloads keep every digit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal

from django.conf import settings

MAX_DIGITS = 15  # what a float holds
_digits: ContextVar[int | None] = ContextVar("number_digits", default=None)


def current_digits() -> int:
    return _digits.get() or settings.NUMBER_DIGITS


def digits_from(value: object) -> int | None:
    """?digits= as a number of significant digits, or None when absent or not one."""
    try:
        wanted = int(str(value))
    except ValueError:
        return None
    return max(1, min(MAX_DIGITS, wanted))


@contextmanager
def digits(count: int | None) -> Iterator[None]:
    """Numbers formatted inside the block show COUNT significant digits (None: the default)."""
    token = _digits.set(count)
    try:
        yield
    finally:
        _digits.reset(token)


def number(value: object, places: int | None = None) -> str:
    """VALUE as text: integers whole with thousands separators, floats to PLACES (default: the
    current) significant digits without an exponent between 0.0001 and 10**PLACES; None "—"."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, str | Decimal):  # a number read out of JSON as text (PostgreSQL's ->>)
        try:
            value = float(value)
        except ValueError:
            return str(value)
    if not isinstance(value, float):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    count = places or current_digits()
    if value == 0:
        return "0"
    if abs(value) >= 10**count:
        return f"{value:,.0f}"
    if abs(value) < 1e-4:
        return f"{value:.{count}g}"
    # Fixed point with COUNT significant digits, trailing zeros dropped.
    decimals = max(0, count - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def signed(value: float) -> str:
    """A difference: always with its sign ("+0.01234", "−0.5", "0")."""
    if value == 0:
        return "0"
    text = number(value)
    return text if text.startswith("-") else f"+{text}"
