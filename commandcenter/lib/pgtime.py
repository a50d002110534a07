"""PostgreSQL timestamps read by psycopg's C loader, not Django's Python one.

Django (5.2) reads every timestamptz through its own loader, a subclass of psycopg's pure
Python TimestamptzLoader, so psycopg's C build never parses one (Django ticket #36960; the C
class cannot be subclassed). On a 2-core test machine that was 5.5 us a value: 0.57 ms of the
jobs list's state query (26 rows, 4 timestamps each), 75 % of its Python time. The loader here
is Django's, with the parsing done by the C class psycopg registers by default: the same
values (in the connection's time zone, which Django sets on the session) in a quarter of the
time. Where psycopg has no C build, nothing changes.
"""

from __future__ import annotations

from django.db.backends.signals import connection_created


def _fast_loader(timezone):
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader
    from psycopg import adapters
    from psycopg.pq import Format
    from psycopg.types.datetime import TimestamptzLoader

    optimised = adapters.get_loader(adapters.types["timestamptz"].oid, Format.TEXT)
    if optimised is None or optimised is TimestamptzLoader:
        return None  # pure-Python psycopg: Django's loader is as fast

    class FastTzLoader(BaseTzLoader):
        def __init__(self, oid, context=None) -> None:
            super().__init__(oid, context)
            self._parse = optimised(oid, context).load

        def load(self, data):
            value = self._parse(data)
            if value.tzinfo is timezone:  # the session's zone, as Django sets it: as is
                return value
            return value.replace(tzinfo=timezone)

    FastTzLoader.timezone = timezone  # what Django's create_cursor compares with its own
    return FastTzLoader


def _register(sender, connection, **kwargs) -> None:
    if connection.vendor != "postgresql":
        return
    from django.conf import settings

    if not settings.USE_TZ:
        return
    loader = _fast_loader(connection.timezone)
    if loader is not None:
        connection.connection.adapters.register_loader("timestamptz", loader)


def install() -> None:
    connection_created.connect(_register, dispatch_uid="commandcenter.pgtime")
