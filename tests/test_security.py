"""Production settings pass `manage.py check --deploy`; security headers; sessions expire;
log-ins are rate-limited (the login page, the admin's and the API's token endpoint)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from audit.models import AuditEvent, UserSession
from tests.conftest import PASSWORD

SECURITY_ENV = (
    "DEBUG", "SECRET_KEY", "SECRET_KEY_FILE", "ALLOWED_HOSTS", "HTTPS", "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_COOKIES",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # the browser tests set it for themselves
)  # fmt: skip


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SECURITY_ENV}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    done = manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="cc.example.com",
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout
    assert "WARNING" not in done.stderr + done.stdout


def test_check_deploy_warns_when_production_is_switched_to_plain_http():
    done = manage(
        "check", "--deploy",
        DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="cc.example.com",
        HTTPS="false",
    )  # fmt: skip

    assert "security.W008" in done.stderr + done.stdout  # SECURE_SSL_REDIRECT is off


def test_the_local_quick_start_serves_plain_http():
    """scripts/start sets no SECRET_KEY: no https redirect, no secure-only cookies."""
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS)"
    )
    done = manage("shell", "-c", code)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split() == ["False", "False", "0"]


# --- Headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/login/", "/jobs/", "/models/", "/audit/"])
def test_pages_carry_the_security_headers(client, staff, url):
    client.force_login(staff)
    response = client.get(url)

    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe" not in csp


def test_pages_have_no_inline_script_or_style(client, staff, alice_snapshot):
    client.force_login(staff)
    for url in ["/jobs/", "/models/", alice_snapshot.get_absolute_url(), "/jobs/new/"]:
        html = client.get(url, follow=True).content.decode()
        assert "<style" not in html, url
        assert ' style="' not in html, url
        for tag in html.split("<script")[1:]:
            assert tag.split(">")[0].strip().startswith("src="), (url, tag[:80])


# --- Sessions --------------------------------------------------------------------------------


def test_a_session_lasts_twelve_hours_by_default(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})

    assert response.status_code == 302
    assert settings.SESSION_COOKIE_AGE == 12 * 3600
    assert response.cookies["sessionid"]["max-age"] == 12 * 3600
    session = UserSession.objects.get()
    expected = timezone.now() + timedelta(hours=12)
    assert abs((session.expire_date - expected).total_seconds()) < 60


def test_an_expired_session_has_to_log_in_again(client, alice):
    client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert client.get("/jobs/").status_code == 200

    UserSession.objects.update(expire_date=timezone.now() - timedelta(seconds=1))

    response = client.get("/jobs/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- Login rate limiting ---------------------------------------------------------------------


def fail_logins(client, username: str, times: int, **extra):
    return [
        client.post(reverse("login"), {"username": username, "password": "wrong"}, **extra)
        for _ in range(times)
    ]


def test_the_login_page_locks_after_repeated_failures_with_a_clear_message(client, alice):
    limit = settings.AXES_FAILURE_LIMIT
    answers = fail_logins(client, "alice", limit - 1)
    assert {a.status_code for a in answers} == {200}

    locked = fail_logins(client, "alice", 1)[0]
    assert locked.status_code == 429
    assert "Too many failed log-ins" in locked.content.decode()
    assert "locked for 15 minutes" in locked.content.decode()

    # Even the right password is refused now, with the same message.
    right = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert right.status_code == 429 and "Too many failed log-ins" in right.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="login.locked", object_label="alice").exists()
    assert AuditEvent.objects.filter(action="login.failed").count() == limit + 1


def test_a_lockout_is_for_that_user_name_and_address_only(client, alice, bob):
    fail_logins(client, "alice", settings.AXES_FAILURE_LIMIT)

    other_user = client.post(reverse("login"), {"username": "bob", "password": PASSWORD})
    assert other_user.status_code == 302
    client.logout()
    other_address = client.post(
        reverse("login"), {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.9.8.7"
    )
    assert other_address.status_code == 302


def test_a_success_before_the_limit_resets_the_count(client, alice):
    fail_logins(client, "alice", settings.AXES_FAILURE_LIMIT - 1)
    assert (
        client.post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code
        == 302
    )
    client.logout()

    answers = fail_logins(client, "alice", settings.AXES_FAILURE_LIMIT - 1)
    assert {a.status_code for a in answers} == {200}


def test_the_lockout_ends_after_the_cool_off(client, alice):
    from axes.models import AccessAttempt

    fail_logins(client, "alice", settings.AXES_FAILURE_LIMIT)
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME)

    assert (
        client.post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code
        == 302
    )


def test_the_admin_login_is_limited_too(client, staff):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": "staff", "password": "wrong"})

    locked = client.post("/admin/login/", {"username": "staff", "password": PASSWORD})
    assert locked.status_code == 429 and "Too many failed log-ins" in locked.content.decode()


def test_the_api_token_endpoint_is_limited_with_a_json_message(client, alice):
    try:
        reverse("api-token")
    except NoReverseMatch:
        pytest.skip("the REST API is not in this tree")

    def token(password: str):
        return client.post(
            "/api/auth/token/",
            {"username": "alice", "password": password},
            content_type="application/json",
        )

    answers = [token("wrong") for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert [a.status_code for a in answers[:-1]] == [400] * (settings.AXES_FAILURE_LIMIT - 1)
    assert answers[-1].status_code == 429

    locked = token(PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed log-ins" in locked.json()["detail"]


def test_the_test_clients_login_without_a_request_still_works(client, alice):
    assert client.login(username="alice", password=PASSWORD)
