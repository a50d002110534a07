"""Sessions and the user of a request are read from the database on every request, in one
prepared query: a log-out, a password change or a deactivation counts at the next request, in
every process and for every client holding the session."""

from __future__ import annotations

from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.test import Client
from django.urls import reverse

from audit.models import UserSession
from tests.conftest import PASSWORD


def _logged_in(alice) -> Client:
    client = Client()
    assert (
        client.post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code
        == 302
    )
    return client


def _copy(client: Client) -> Client:
    """Another client with the same cookies: another tab, or a request another web process
    serves."""
    other = Client()
    other.cookies = client.cookies.__class__(client.cookies)
    return other


def test_a_logged_in_request_sees_its_user(alice):
    client = _logged_in(alice)
    page = client.get(reverse("jobs-list"))
    assert page.status_code == 200
    assert page.wsgi_request.user == alice
    assert client.session[SESSION_KEY] == str(alice.pk)


def test_log_out_ends_the_session_for_every_client_that_holds_it(alice):
    client = _logged_in(alice)
    other = _copy(client)
    assert other.get(reverse("jobs-list")).status_code == 200

    client.post(reverse("logout"))

    answer = other.get(reverse("jobs-list"))
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")


def test_a_password_change_ends_the_users_other_sessions(alice):
    client = _logged_in(alice)
    assert client.get(reverse("jobs-list")).status_code == 200

    alice.set_password("another horse battery staple")
    alice.save()

    answer = client.get(reverse("jobs-list"))
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")


def test_a_deactivated_or_deleted_user_is_logged_out_at_the_next_request(alice, bob):
    client = _logged_in(alice)
    alice.is_active = False
    alice.save()
    assert client.get(reverse("jobs-list")).status_code == 302

    bobs = Client()
    bobs.post(reverse("login"), {"username": "bob", "password": PASSWORD})
    assert bobs.get(reverse("jobs-list")).status_code == 200
    bob.delete()
    assert bobs.get(reverse("jobs-list")).status_code == 302


def test_a_made_up_session_cookie_is_no_session(alice):
    client = Client()
    client.cookies["sessionid"] = "x" * 32
    answer = client.get(reverse("jobs-list"))
    assert answer.status_code == 302


def test_the_session_and_its_user_are_read_in_one_query(alice, alice_snapshot):
    from jobs.models import Job

    client = _logged_in(alice)
    job = Job.objects.create(snapshot=alice_snapshot, created_by=alice)
    status = reverse("jobs-status", args=[job.uuid])
    client.get(status)  # each shape's SQL is compiled once per thread
    asked = []
    with connection.execute_wrapper(
        lambda execute, sql, *rest: asked.append(sql) or execute(sql, *rest)
    ):
        answer = client.get(status)
    assert answer.status_code == 200 and answer.wsgi_request.user == alice
    sessions = [sql for sql in asked if UserSession._meta.db_table in sql]
    users = [sql for sql in asked if 'FROM "auth_user"' in sql]
    assert len(sessions) == 1 and 'JOIN "auth_user"' in sessions[0]
    assert users == []
    assert UserSession.objects.get().user == alice


def test_a_session_without_a_login_has_no_user(alice):
    client = Client()
    session = client.session  # an anonymous session, as a page that keeps a message makes
    session["seen"] = True
    session.save()
    client.cookies["sessionid"] = session.session_key
    assert UserSession.objects.get(pk=session.session_key).user is None
    answer = client.get(reverse("jobs-list"))
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")


def test_a_sessions_text_is_decoded_once_and_each_request_gets_its_own_copy(alice):
    from commandcenter.lib import sessions

    store = sessions.SessionStore()
    store["seen"], store["count"] = "yes", 3
    text = store.encode(dict(store.items()))
    sessions._decoded.clear()
    first = sessions.SessionStore().decode(text)
    assert first == {"seen": "yes", "count": 3} and sessions._decoded[text] == first
    first["seen"] = "changed by one request"  # a request's session is its own to change
    second = sessions.SessionStore().decode(text)
    assert second == {"seen": "yes", "count": 3} and second is not first


def test_a_session_holding_a_list_or_a_bad_signature_is_decoded_each_time(alice):
    from commandcenter.lib import sessions

    store = sessions.SessionStore()
    listed = store.encode({"choices": ["a", "b"]})
    sessions._decoded.clear()
    decoded = sessions.SessionStore().decode(listed)
    decoded["choices"].append("c")  # a copy of the kept dict would share this list
    assert sessions.SessionStore().decode(listed) == {"choices": ["a", "b"]}
    forged = listed[:-3] + ("AAA" if not listed.endswith("AAA") else "BBB")
    assert sessions.SessionStore().decode(forged) == {}
    assert sessions._decoded == {}


def test_a_changed_session_is_read_as_changed_on_the_next_request(alice):
    client = _logged_in(alice)
    session = client.session
    session["seen"] = "first"
    session.save()
    assert client.get(reverse("jobs-list")).wsgi_request.session["seen"] == "first"
    session["seen"] = "second"
    session.save()
    assert client.get(reverse("jobs-list")).wsgi_request.session["seen"] == "second"
