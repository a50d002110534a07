"""The client address behind trusted proxies (TRUSTED_PROXIES): the log-in limits and the
audit trail count each client, not the proxy; without trusted proxies X-Forwarded-For is
ignored, so a forged one dodges nothing."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.urls import reverse

from audit.context import client_ip
from audit.models import AuditEvent
from commandcenter.lib.env import env_networks
from tests.conftest import PASSWORD

PROXY = "10.0.0.2"
LOCKED = 429


@pytest.fixture
def behind_proxy(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]


def log_in(client, username: str, password: str, **meta):
    return client.post(reverse("login"), {"username": username, "password": password}, **meta)


def ip_of(**meta) -> str | None:
    return client_ip(RequestFactory().get("/", **meta))


@pytest.fixture(autouse=True)
def _limits_on(settings):
    if not settings.AXES_ENABLED:
        pytest.skip("login rate limiting is off in these settings")


# --- Log-in limits --------------------------------------------------------------------------


def test_two_clients_behind_one_trusted_proxy_lock_out_separately(client, alice, behind_proxy):
    attacker = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "alice", "wrong", **attacker)

    assert log_in(client, "alice", PASSWORD, **attacker).status_code == LOCKED
    alice_herself = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    assert log_in(client, "alice", PASSWORD, **alice_herself).status_code == 302


def test_behind_a_trusted_proxy_a_forged_left_part_dodges_nothing(client, alice, behind_proxy):
    for n in range(settings.AXES_FAILURE_LIMIT):
        forged = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"192.0.2.{n}, 203.0.113.9"}
        log_in(client, "alice", "wrong", **forged)

    again = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "192.0.2.99, 203.0.113.9"}
    assert log_in(client, "alice", PASSWORD, **again).status_code == LOCKED


def test_without_trusted_proxies_a_forged_header_dodges_nothing(client, alice, settings):
    settings.TRUSTED_PROXIES = []
    for n in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "alice", "wrong", REMOTE_ADDR="203.0.113.9",
               HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")  # fmt: skip

    locked = log_in(client, "alice", PASSWORD, REMOTE_ADDR="203.0.113.9",
                    HTTP_X_FORWARDED_FOR="192.0.2.99")  # fmt: skip
    assert locked.status_code == LOCKED


def test_a_client_that_is_not_a_trusted_proxy_cannot_forward_for_others(
    client, alice, behind_proxy
):
    for n in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "alice", "wrong", REMOTE_ADDR="203.0.113.9",
               HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")  # fmt: skip

    locked = log_in(client, "alice", PASSWORD, REMOTE_ADDR="203.0.113.9",
                    HTTP_X_FORWARDED_FOR="192.0.2.99")  # fmt: skip
    assert locked.status_code == LOCKED


def test_the_audit_trail_records_the_forwarded_address(client, alice, behind_proxy):
    log_in(client, "alice", "wrong", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.9")

    assert AuditEvent.objects.get(action="login.failed").ip == "203.0.113.9"


# --- Which address ----------------------------------------------------------------------------


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []
    assert ip_of(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.9") == PROXY


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("192.0.2.1, 203.0.113.9", "203.0.113.9"),  # the left part is the client's to write
        ("203.0.113.9, 10.0.0.7", "203.0.113.9"),  # through two proxies of ours
        ("203.0.113.9:4711", "203.0.113.9"),
        ("[2001:db8::1]:4711", "2001:db8::1"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("10.0.0.7", "10.0.0.7"),  # a proxy of ours is the client
        ("unknown", PROXY),  # no address: the proxy's own
        ("203.0.113.9, unknown", PROXY),
        ("", PROXY),
    ],
)
def test_behind_a_trusted_proxy_the_right_most_other_address_is_the_client(
    behind_proxy, forwarded, client
):
    assert ip_of(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded) == client


def test_trusted_proxies_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.5, 10.1.0.0/16,fd00::/8")
    assert env_networks("TRUSTED_PROXIES") == ["10.0.0.5/32", "10.1.0.0/16", "fd00::/8"]

    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.5,proxy.example")
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES: 'proxy.example'"):
        env_networks("TRUSTED_PROXIES")
