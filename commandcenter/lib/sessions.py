"""The session engine: Django's database sessions, with the session's user read in the same
query.

Every logged-in request reads its session and then its user. The session's row keeps the id of
the user it is logged in as (audit.UserSession), so one prepared query
(commandcenter/lib/prepared.py) reads the session and that user together, and the user backend
takes the user from it instead of asking again (audit.backends.UserBackend). Both are still
read from the database on every request, so a log-out (the row deleted), a password change or
a deactivation counts at once on every web process, as with Django's own engine.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

from django.contrib import auth
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthentication
from django.contrib.auth.middleware import get_user as django_get_user
from django.contrib.sessions.backends import db
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from commandcenter.lib.prepared import PreparedQuery

USER_FIELDS = [field.attname for field in auth.get_user_model()._meta.concrete_fields]
_PK = USER_FIELDS.index(auth.get_user_model()._meta.pk.attname)


def _session_query(*, session_key, now):
    from audit.models import UserSession

    return UserSession.objects.filter(session_key=session_key, expire_date__gt=now).values_list(
        "session_data", "expire_date", *(f"user__{name}" for name in USER_FIELDS)
    )[:1]


_session = PreparedQuery(_session_query)


class SessionStore(db.SessionStore):
    user_row: tuple | None = None  # the logged-in user's fields as loaded, USER_FIELDS' order

    @classmethod
    def get_model_class(cls):
        from audit.models import UserSession

        return UserSession

    def _get_session_from_db(self):
        found = _session.rows(session_key=self.session_key, now=timezone.now())
        if not found:
            self._session_key = None
            return None
        data, expire_date, *user = found[0]
        self.user_row = tuple(user) if user[_PK] is not None else None  # a user's session
        return self.model(session_key=self.session_key, session_data=data, expire_date=expire_date)

    def create_model_instance(self, data):
        instance = super().create_model_instance(data)
        instance.user_id = data.get(SESSION_KEY)  # as login() keeps it: the pk as text
        return instance


_loading: ContextVar[SessionStore | None] = ContextVar("session_user_loading", default=None)


def preloaded_user_row(user_id) -> tuple | None:
    """While a request's user is being found: the row of USER_ID that its session's query
    read along with it, if that is the user the session names."""
    session = _loading.get()
    row = session.user_row if session is not None else None
    if row is None or str(row[_PK]) != str(user_id):
        return None
    return row


@contextmanager
def _user_loading(session):
    token = _loading.set(session if isinstance(session, SessionStore) else None)
    try:
        yield
    finally:
        _loading.reset(token)


def _user(request):
    with _user_loading(request.session):
        return django_get_user(request)  # Django's: found once per request, then kept


class AuthenticationMiddleware(DjangoAuthentication):
    """Django's, whose request.user may take its user from the session's query (above);
    Django's auth.get_user still decides who that is (the backend, the session's hash)."""

    def process_request(self, request):
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _user(request))
