"""API tokens are kept as hashes: the database holds no key; a password change ends them;
the tokens of rest_framework.authtoken are carried over by the migration."""

from __future__ import annotations

import hashlib
import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from api.authentication import token_issue
from api.models import ApiToken
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a new and different passphrase"


def me_status(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/me/").status_code


def test_the_token_row_holds_no_key(anon_api, alice):
    answer = anon_api.post(
        "/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
    )
    key = answer.json()["token"]

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM api_apitoken")
        rows = cursor.fetchall()

    assert len(rows) == 1
    assert not any(key in str(value) for value in rows[0])
    assert ApiToken.objects.get(user=alice).digest == hashlib.sha256(key.encode()).hexdigest()
    assert me_status(key) == 200


def test_a_key_that_shares_a_prefix_but_not_the_rest_is_refused(alice):
    key = token_issue(user=alice).key

    assert me_status(key[:8] + "0" * 32) == 401
    assert me_status(key[:8]) == 401


def test_an_inactive_users_token_is_refused(alice):
    key = token_issue(user=alice).key
    alice.is_active = False
    alice.save()

    assert me_status(key) == 401


def test_set_password_and_save_ends_the_users_tokens(alice, bob):
    alices, bobs = token_issue(user=alice).key, token_issue(user=bob).key

    alice.set_password(NEW_PASSWORD)
    alice.save()

    assert me_status(alices) == 401
    assert me_status(bobs) == 200  # another user's token is not touched


def test_a_password_change_in_the_admin_ends_the_users_tokens(client, staff, alice):
    key = token_issue(user=alice).key
    client.force_login(staff)

    answer = client.post(
        reverse("admin:auth_user_password_change", args=[alice.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert me_status(key) == 401


def test_changing_ones_own_password_ends_ones_tokens(client, staff):
    key = token_issue(user=staff).key
    client.force_login(staff)

    answer = client.post(
        reverse("admin:password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert me_status(key) == 401


def test_saving_a_user_or_logging_in_on_the_site_keeps_the_tokens(client, alice):
    key = token_issue(user=alice).key
    alice.first_name = "Alice"
    alice.save()

    answer = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})

    assert answer.status_code == 302
    assert me_status(key) == 200


def test_the_migration_hashes_authtoken_keys_so_they_keep_working(alice, settings):
    """As an installation that used rest_framework.authtoken has them before migrating."""
    key, created = "0123456789abcdef0123456789abcdef01234567", timezone.now() - timedelta(days=3)
    with connection.cursor() as cursor:
        cursor.execute(
            'CREATE TABLE authtoken_token ("key" VARCHAR(40) PRIMARY KEY, '
            "created TIMESTAMP NOT NULL, user_id INTEGER NOT NULL)"
        )
        cursor.execute(
            'INSERT INTO authtoken_token ("key", created, user_id) VALUES (%s, %s, %s)',
            [key, created.replace(tzinfo=None), alice.pk],
        )
    migration = importlib.import_module("api.migrations.0002_tokens_hashed")

    migration.tokens_hash(apps, SimpleNamespace(connection=connection))

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0  # no key is left behind
    token = ApiToken.objects.get(user=alice)
    assert abs(token.created_at - created) < timedelta(seconds=1)  # its expiry is kept
    assert me_status(key) == 200
    settings.API_TOKEN_TTL_DAYS = 2
    assert me_status(key) == 401
