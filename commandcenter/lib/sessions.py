"""The session engine: Django's database sessions, with the session's user read in the same
query.

Every logged-in request reads its session and then its user. The session's row keeps the id of
the user it is logged in as (audit.UserSession), so one prepared query
(commandcenter/lib/prepared.py) reads the session and that user together, and the user backend
takes the user from it instead of asking again (audit.backends.UserBackend). Both are still
read from the database on every request, so a log-out (the row deleted), a password change or
a deactivation counts at once on every web process, as with Django's own engine.

A view polled every second may read what it needs in that same query (ReadAlong): a running
job's status partial reads the job's state there, one round trip instead of two.

A session's signed text is decoded once per web process (its signature checked, unzipped,
parsed: 14-23 µs of every logged-in request on a 2-core test machine), then kept under that
text: the same text always decodes to the same values, and a session that changes is saved
as another text.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

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


_COLUMNS = ("session_data", "expire_date", *(f"user__{name}" for name in USER_FIELDS))


def _sessions(*, session_key, now):
    from audit.models import UserSession

    return UserSession.objects.filter(session_key=session_key, expire_date__gt=now)


def _session_query(*, session_key, now):
    return _sessions(session_key=session_key, now=now).values_list(*_COLUMNS)[:1]


_session = PreparedQuery(_session_query)


@dataclass(eq=False)
class ReadAlong:
    """A value a view reads in its request's session query. BUILD(**the view's URL
    arguments) is an expression on the session's row, whose user is OuterRef("user_id")
    and OuterRef("user__is_staff") in a subquery (None where the session has no user);
    LOAD(what the database gave) is the value. A view names it with read_with_session()."""

    build: Callable[..., Any]
    load: Callable[[Any], Any]

    def __post_init__(self) -> None:
        def query(*, session_key, now, **values):
            sessions = _sessions(session_key=session_key, now=now)
            along = sessions.annotate(_read_along=self.build(**values))
            return along.values_list(*_COLUMNS, "_read_along")[:1]

        self.query = PreparedQuery(query)


def read_with_session(along: ReadAlong):
    """A view's decorator (the outermost): its request's session query also reads ALONG,
    which along_read() then gives."""

    def decorator(view):
        view.read_with_session = along
        return view

    return decorator


def along_ask(request, view_func, view_kwargs: dict) -> None:
    """What VIEW_FUNC reads with the session (read_with_session), asked of REQUEST's session
    before it is read: by the first middleware that reads it once the view is known
    (commandcenter.lib.outage.DatabaseOutageMiddleware.process_view)."""
    along = getattr(view_func, "read_with_session", None)
    session = getattr(request, "session", None)
    if along is None or not isinstance(session, SessionStore) or not session.session_key:
        return
    if not hasattr(session, "_session_cache"):  # not read yet
        session.read_along = (along, view_kwargs)


NOT_READ = object()


def along_read(request, along: ReadAlong) -> Any:
    """What REQUEST's session query read of ALONG for its user, or NOT_READ (the session
    was read before the view was known, or another user's is logged in now)."""
    session = getattr(request, "session", None)
    kept = getattr(session, "along", None)
    if kept is None or kept[0] is not along:
        return NOT_READ
    row = session.user_row
    if row is None or row[_PK] != request.user.pk:
        return NOT_READ
    return kept[1]


# Decoded sessions by their signed text, for sessions whose values are all of these types
# (a copy of the dict is then as good as a new decoding); at most _DECODED_KEPT of them.
_DECODED_TYPES = (str, int, float, bool, type(None))
_DECODED_KEPT = 4096
_decoded: dict[str, dict] = {}


class SessionStore(db.SessionStore):
    user_row: tuple | None = None  # the logged-in user's fields as loaded, USER_FIELDS' order
    read_along: tuple[ReadAlong, dict] | None = None  # to read with the session: and its values
    along: tuple[ReadAlong, Any] | None = None  # what was read with it

    @classmethod
    def get_model_class(cls):
        from audit.models import UserSession

        return UserSession

    def load(self):  # Django's, without a model instance made of the row
        found = self._row_from_db()
        return self.decode(found[0]) if found is not None else {}

    def decode(self, session_data):
        kept = _decoded.get(session_data)
        if kept is not None:
            return dict(kept)
        session = super().decode(session_data)
        if session and all(type(value) in _DECODED_TYPES for value in session.values()):
            if len(_decoded) >= _DECODED_KEPT:
                _decoded.clear()
            _decoded[session_data] = dict(session)
        return session

    def _row_from_db(self) -> tuple[str, Any] | None:
        """(session_data, expire_date) of this session, the user's row and what is read
        along with it kept; None if there is no such session, or it has expired."""
        asked = self.read_along
        if asked is None:
            found = _session.rows(session_key=self.session_key, now=timezone.now())
        else:
            along, values = asked
            found = along.query.rows(session_key=self.session_key, now=timezone.now(), **values)
        if not found:
            self._session_key = None
            return None
        data, expire_date, *user = found[0]
        if asked is not None:
            self.along = (asked[0], asked[0].load(user.pop()))
        self.user_row = tuple(user) if user[_PK] is not None else None  # a user's session
        return data, expire_date

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
