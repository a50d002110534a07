from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse

from api.models import ApiToken
from tests.api.conftest import assert_matches_schema
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/auth/token/"


def test_login_gives_a_token_that_authenticates(anon_api, alice):
    answer = anon_api.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")

    assert answer.status_code == 200, answer.content
    assert_matches_schema(answer)
    assert answer.json()["username"] == "alice"
    anon_api.credentials(HTTP_AUTHORIZATION=f"Token {answer.json()['token']}")
    me = anon_api.get("/api/me/")
    assert me.status_code == 200
    assert me.json() == {"username": "alice", "is_staff": False, "teams": ["alpha"]}
    assert_matches_schema(me)


def test_a_wrong_password_is_refused_with_a_message(anon_api, alice):
    answer = anon_api.post(TOKEN_URL, {"username": "alice", "password": "nope"}, format="json")

    assert answer.status_code == 400
    assert answer.json() == {"detail": "Wrong user name or password."}
    assert not ApiToken.objects.filter(user=alice).exists()


def test_login_without_fields_names_them(anon_api, db):
    answer = anon_api.post(TOKEN_URL, {}, format="json")

    assert answer.status_code == 400
    assert set(answer.json()) == {"username", "password"}


def test_logging_in_again_replaces_the_token(anon_api, alice):
    first = anon_api.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}).json()["token"]
    second = anon_api.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}).json()["token"]

    assert first != second
    anon_api.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    assert anon_api.get("/api/me/").status_code == 401
    anon_api.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert anon_api.get("/api/me/").status_code == 200


def test_an_expired_token_is_refused_with_what_to_do(alice_api, alice, settings):
    settings.API_TOKEN_TTL_DAYS = 30
    token = ApiToken.objects.get(user=alice)
    ApiToken.objects.filter(pk=token.pk).update(
        created_at=token.created_at - timedelta(days=30, seconds=1)
    )

    answer = alice_api.get("/api/me/")

    assert answer.status_code == 401
    assert answer.json() == {"detail": "Token expired; run `moc login` again."}


def test_a_token_just_inside_its_lifetime_works(alice_api, alice, settings):
    settings.API_TOKEN_TTL_DAYS = 30
    token = ApiToken.objects.get(user=alice)
    ApiToken.objects.filter(pk=token.pk).update(created_at=token.created_at - timedelta(days=29))

    assert alice_api.get("/api/me/").status_code == 200


@pytest.mark.parametrize(
    "url", ["/api/me/", "/api/models/", "/api/jobs/", "/api/runtimes/", "/api/connections/"]
)
def test_without_a_token_the_api_answers_401_in_json_not_a_login_redirect(anon_api, url, db):
    answer = anon_api.get(url)

    assert answer.status_code == 401
    assert answer["Content-Type"].startswith("application/json")
    assert answer["WWW-Authenticate"] == "Token"
    assert "detail" in answer.json()


def test_the_schema_needs_login(anon_api, alice_api):
    assert anon_api.get("/api/schema/").status_code == 401
    assert alice_api.get("/api/schema/").status_code == 200


def test_a_made_up_token_is_refused(anon_api, db):
    anon_api.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef")

    assert anon_api.get("/api/me/").status_code == 401


def test_a_logged_in_browser_session_works_too(client, alice):
    client.force_login(alice)

    assert client.get("/api/me/").json()["username"] == "alice"


def test_the_docs_page_needs_login_and_serves_swagger_from_this_site(client, alice):
    anonymous = client.get("/api/docs/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("login"))

    client.force_login(alice)
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()
    assert reverse("api-schema") in html


def test_api_token_command_prints_a_working_token(alice, anon_api, capsys):
    call_command("api_token", "alice")
    key = capsys.readouterr().out.strip()

    anon_api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert anon_api.get("/api/me/").json()["username"] == "alice"


def test_api_token_command_refuses_an_unknown_user(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("api_token", "nobody")


def test_repeated_wrong_passwords_lock_the_token_endpoint_with_json(anon_api, alice, settings):
    if not settings.AXES_ENABLED:
        pytest.skip("login rate limiting is off in these settings")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        anon_api.post(TOKEN_URL, {"username": "alice", "password": "nope"}, format="json")

    answer = anon_api.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")

    assert answer.status_code == 429
    assert "Too many failed log-ins" in answer.json()["detail"]
    assert not ApiToken.objects.filter(user=alice).exists()


def test_a_browser_session_cannot_write_without_the_csrf_token(alice, alice_snapshot):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    body = {"snapshot": str(alice_snapshot.uuid), "inputs": [{"kind": "embedded", "data": "{}"}]}

    answer = browser.post("/api/jobs/", body, content_type="application/json")

    assert answer.status_code == 403
    assert "CSRF" in answer.json()["detail"]
    assert browser.get("/api/jobs/").status_code == 200  # reading needs no token


@pytest.mark.parametrize("path", ["/api/jobs/12345/", "/api/nothing/", "/api/jobs/x/cancel/"])
def test_an_unknown_api_path_answers_json_404(client, path):
    answer = client.get(path)
    assert answer.status_code == 404
    assert "no such API endpoint" in answer.json()["detail"]
