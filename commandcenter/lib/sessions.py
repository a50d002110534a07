"""The session engine: Django's database sessions, read by a prepared query.

Every logged-in request reads its session; building that query costs the ORM about as much as
the rest of a polled page (commandcenter/lib/prepared.py). The session is still read from the
database on every request, so a log-out (its row deleted) ends it at once on every web process,
as with Django's own engine; only the way the row is asked for differs.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.utils import timezone

from commandcenter.lib.prepared import PreparedQuery


def _session_query(*, session_key, now):
    return Session.objects.filter(session_key=session_key, expire_date__gt=now).values_list(
        "session_data", "expire_date"
    )[:1]


_session = PreparedQuery(_session_query)


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        found = _session.rows(session_key=self.session_key, now=timezone.now())
        if not found:
            self._session_key = None
            return None
        data, expire_date = found[0]
        return self.model(session_key=self.session_key, session_data=data, expire_date=expire_date)
