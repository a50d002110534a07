"""The polled live region's CSRF token (commandcenter/lib/csrf.py): what Django's middleware
accepts, masked afresh each time with no character likelier than another, and no cookie
renewed on each poll."""

from __future__ import annotations

from collections import Counter

from django.conf import settings
from django.http import HttpResponse
from django.middleware.csrf import (
    CSRF_ALLOWED_CHARS,
    CsrfViewMiddleware,
    _unmask_cipher_token,
    get_token,
)
from django.test import RequestFactory

from commandcenter.lib.csrf import polled_token

SECRET = "".join(CSRF_ALLOWED_CHARS[(i * 7) % 62] for i in range(32))


def _view(request):
    return HttpResponse("ok")


def _middleware() -> CsrfViewMiddleware:
    return CsrfViewMiddleware(_view)


def _with_cookie(request, secret: str = SECRET):
    request.COOKIES[settings.CSRF_COOKIE_NAME] = secret
    _middleware().process_request(request)
    return request


def test_a_polled_token_is_the_cookies_secret_masked_afresh_and_renews_no_cookie():
    request = _with_cookie(RequestFactory().get("/jobs/x/status/"))

    tokens = [polled_token(request) for _ in range(200)]

    assert len(set(tokens)) == 200
    assert all(len(t) == 64 and set(t) <= set(CSRF_ALLOWED_CHARS) for t in tokens)
    assert {_unmask_cipher_token(t) for t in tokens} == {SECRET}
    assert not request.META.get("CSRF_COOKIE_NEEDS_UPDATE")
    response = _middleware().process_response(request, HttpResponse())
    assert settings.CSRF_COOKIE_NAME not in response.cookies  # Django's get_token sets one
    get_token(request)
    response = _middleware().process_response(request, HttpResponse())
    assert settings.CSRF_COOKIE_NAME in response.cookies


def test_djangos_middleware_takes_a_polled_token_in_a_post_and_refuses_a_changed_one():
    token = polled_token(_with_cookie(RequestFactory().get("/")))
    changed = token[:40] + ("a" if token[40] != "a" else "b") + token[41:]

    def post(value: str):
        request = _with_cookie(RequestFactory().post("/", {"csrfmiddlewaretoken": value}))
        request._dont_enforce_csrf_checks = False
        return _middleware().process_view(request, _view, (), {})

    assert post(token) is None  # accepted: the view runs
    assert post(changed).status_code == 403


def test_the_mask_gives_every_character_equally_often():
    # 160,000 characters: 2,581 of each expected (a standard deviation of 50). A mask taken
    # modulo 62 from every byte would give the first 8 characters 3,125 each.
    request = _with_cookie(RequestFactory().get("/"))
    counts = Counter(c for _ in range(5000) for c in polled_token(request)[:32])
    assert set(counts) == set(CSRF_ALLOWED_CHARS)
    assert 2330 < min(counts.values()) and max(counts.values()) < 2830


def test_without_a_cookie_or_with_one_django_replaces_it_is_djangos_get_token():
    fresh = RequestFactory().get("/")
    _middleware().process_request(fresh)  # no cookie
    token = polled_token(fresh)
    assert _unmask_cipher_token(token) == fresh.META["CSRF_COOKIE"]
    assert fresh.META["CSRF_COOKIE_NEEDS_UPDATE"] is True  # the new cookie is sent

    bad = _with_cookie(RequestFactory().get("/"), secret="not a secret!")
    token = polled_token(bad)
    assert bad.META["CSRF_COOKIE"] != "not a secret!"  # Django made a new one
    assert _unmask_cipher_token(token) == bad.META["CSRF_COOKIE"]
