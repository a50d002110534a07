"""Reaching the database behind a SQL connection: PostgreSQL (psycopg 3) or SQLite.

The DSN holds a password, so no message built here ever shows it: every error goes through
`redact`, which strips the password (as written and as decoded) and the DSN itself.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import psycopg
from psycopg import errors as pg_errors

from jobs.models import Connection

POSTGRES_SCHEMES = ("postgresql", "postgres")
_CONNECT_TIMEOUT_SECONDS = 10
_PROGRESS_OPCODES = 10_000  # SQLite calls the timeout check every this many VM steps


class DsnError(ValueError):
    """The connection's DSN (or its statement timeout) cannot be used; the message holds no
    secret."""


class Unreachable(Exception):
    """The database could not be reached or opened; the message holds no secret."""


@dataclass(frozen=True)
class Dsn:
    raw: str
    engine: str  # "postgresql" or "sqlite"
    path: str = ""  # SQLite: the database file
    secrets: tuple[str, ...] = ()

    @property
    def is_postgres(self) -> bool:
        return self.engine == "postgresql"

    def redact(self, text: str) -> str:
        if self.raw:
            text = text.replace(self.raw, self.display())
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def display(self) -> str:
        """The DSN as people may see it: the password replaced by ***."""
        if not self.is_postgres:
            return self.raw
        text = self.raw
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def dsn_parse(connection: Connection) -> Dsn:
    raw = (connection.dsn or "").strip()
    scheme = raw.split(":", 1)[0].lower() if ":" in raw else ""
    if scheme in POSTGRES_SCHEMES:
        parts = urlsplit(raw)
        passwords = [parts.password or ""] + parse_qs(parts.query).get("password", [])
        secrets = {s for p in passwords if p for s in (p, unquote(p), quote(unquote(p), safe=""))}
        # Longest first, so a password that contains another is not left half shown.
        dsn = Dsn(raw=raw, engine="postgresql", secrets=tuple(sorted(secrets, key=len)[::-1]))
        if not parts.hostname and not parts.path.strip("/"):
            raise DsnError(
                f"connection {connection.name!r}: the DSN names no host or database "
                f"({dsn.display()}); write postgresql://user:password@host:5432/db"
            )
        return dsn
    if scheme == "sqlite":
        path = raw[len("sqlite://") :] if raw.lower().startswith("sqlite://") else ""
        if not path.startswith("/") or path.rstrip("/") == "":
            raise DsnError(
                f"connection {connection.name!r}: a SQLite DSN is sqlite:///absolute/path.db"
            )
        return Dsn(raw=raw, engine="sqlite", path="/" + path.lstrip("/"))
    raise DsnError(
        f"connection {connection.name!r} has no usable DSN: write "
        f"postgresql://user:password@host:5432/db or sqlite:///absolute/path.db"
    )


@dataclass
class Timeout:
    """The connection's statement timeout, at least a second: there is no "none"."""

    seconds: int

    def __post_init__(self) -> None:
        if type(self.seconds) is not int or self.seconds < 1:
            raise ValueError(
                f"a statement timeout is a whole number of seconds, not {self.seconds!r}"
            )

    @property
    def message(self) -> str:
        return f"stopped after {self.seconds} s (the connection's statement timeout)"


def timeout_of(connection: Connection) -> Timeout:
    """The connection's statement timeout; DsnError for 0 (which PostgreSQL reads as "none")
    or less, so no query runs without one."""
    seconds = connection.statement_timeout_seconds
    if type(seconds) is not int or seconds < 1:
        raise DsnError(
            f"connection {connection.name!r} has a statement timeout of {seconds!r} s; it must "
            f"be at least 1 second (an administrator sets it in Admin → Connections)"
        )
    return Timeout(seconds)


def postgres_rearm(conn: psycopg.Connection, timeout: Timeout) -> None:
    """Set the statement timeout again for the rest of this (read-only) transaction, as SET
    LOCAL does: run before the query and before each fetch of its cursor, so whatever the
    query might have changed, the next statement stops after the timeout again."""
    conn.execute("SELECT set_config('statement_timeout', %s, true)", (f"{timeout.seconds}s",))


def postgres_connect(dsn: Dsn, *, read_only: bool, timeout: Timeout) -> psycopg.Connection:
    """A connection whose transactions are read-only (inputs) and whose statements stop after
    the timeout. Nothing runs outside a transaction (autocommit off)."""
    try:
        conn = psycopg.connect(dsn.raw, connect_timeout=_CONNECT_TIMEOUT_SECONDS)
    except psycopg.Error as exc:
        raise Unreachable(f"cannot connect: {one_line(dsn.redact(str(exc)))}") from None
    try:
        # BEGIN READ ONLY for every transaction, and the session default too, so even a
        # statement that slipped past the check cannot write.
        conn.read_only = read_only
        with conn.cursor() as cur:
            # Inputs: each statement stops after the timeout. Outputs may rightly take longer
            # to write a large result, but never wait longer than that for a lock.
            cur.execute(
                "SELECT set_config('default_transaction_read_only', %s, false), "
                "set_config(%s, %s, false)",
                (
                    "on" if read_only else "off",
                    "statement_timeout" if read_only else "lock_timeout",
                    f"{timeout.seconds}s",
                ),
            )
    except BaseException:
        conn.close()
        raise
    return conn


def sqlite_connect(dsn: Dsn, *, read_only: bool, timeout: Timeout) -> sqlite3.Connection:
    """Inputs open the file read-only (mode=ro) with query_only on; outputs may create it.
    The statement timeout is a progress handler, armed by `sqlite_deadline`."""
    mode = "ro" if read_only else "rwc"
    try:
        conn = sqlite3.connect(
            f"file:{quote(dsn.path)}?mode={mode}",
            uri=True,
            timeout=timeout.seconds or 5.0,  # waiting for another writer's lock
            isolation_level=None,  # transactions are explicit
            check_same_thread=False,
        )
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the file
    except sqlite3.Error as exc:
        raise Unreachable(f"cannot open the SQLite database {dsn.path}: {exc}") from None
    if read_only:
        conn.execute("PRAGMA query_only = ON")
    return conn


@contextlib.contextmanager
def sqlite_deadline(
    conn: sqlite3.Connection, timeout: Timeout, stopped: Callable[[], bool] = lambda: False
) -> Iterator[None]:
    """Interrupt whatever SQLite runs inside the block after the timeout, or once STOPPED();
    the statement then fails with "interrupted"."""
    if not timeout.seconds:
        yield
        return
    deadline = time.monotonic() + timeout.seconds
    conn.set_progress_handler(
        lambda: int(time.monotonic() > deadline or stopped()), _PROGRESS_OPCODES
    )
    try:
        yield
    finally:
        conn.set_progress_handler(None, 0)


def error_reason(exc: BaseException, *, dsn: Dsn, timeout: Timeout) -> str:
    """Why EXC happened, for a person, with no secret in it."""
    if isinstance(exc, pg_errors.QueryCanceled):
        return timeout.message
    if isinstance(exc, pg_errors.LockNotAvailable):
        return (
            f"waited {timeout.seconds} s for a lock on the table, held by another session "
            f"(the connection's statement timeout)"
        )
    if isinstance(exc, sqlite3.OperationalError) and str(exc) == "interrupted":
        return timeout.message
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction) or (
        isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc)
    ):
        return f"refused by the database, which runs inputs read-only: {exc}"
    if isinstance(exc, Unreachable):
        return str(exc)
    text = str(exc).strip() or type(exc).__name__
    diag = getattr(exc, "diag", None)
    if diag is not None and diag.message_primary:
        # The primary message without the echo of the statement ("LINE 1: DECLARE …"),
        # which shows our cursor around the query rather than the person's query.
        text = diag.message_primary
        if diag.message_hint:
            text += f" ({diag.message_hint.strip()})"
        if diag.context:
            text += f" ({diag.context.strip().splitlines()[0]})"
    return one_line(dsn.redact(text))


def one_line(text: str) -> str:
    return " ".join(text.split())


def connection_test(connection: Connection) -> str:
    """Connect, SELECT 1, and say what answered: "reached PostgreSQL 15.19 at host:5432/db"."""
    from jobs.assets.base import AssetError

    try:
        dsn = dsn_parse(connection)
    except DsnError as exc:
        raise AssetError(str(exc)) from None
    timeout = Timeout(min(connection.statement_timeout_seconds, 30) or 30)
    try:
        if dsn.is_postgres:
            with postgres_connect(dsn, read_only=True, timeout=timeout) as conn:
                conn.execute("SELECT 1")
                info = conn.info
                version = _pg_version(info.server_version)
                return f"reached PostgreSQL {version} at {info.host}:{info.port}/{info.dbname}"
        if not Path(dsn.path).exists():
            # Not an error for an output: the first job that writes a table creates the file.
            folder = Path(dsn.path).parent
            if not folder.is_dir() or not os.access(folder, os.W_OK):
                raise AssetError(
                    f"connection {connection.name!r}: {dsn.path} does not exist, and its folder "
                    f"{folder} is not a folder this machine can write to"
                )
            return (
                f"{dsn.path} does not exist yet: jobs can write tables to it (it is created on "
                "the first write), but there is nothing to read"
            )
        conn = sqlite_connect(dsn, read_only=True, timeout=timeout)
        try:
            with sqlite_deadline(conn, timeout):
                conn.execute("SELECT 1").fetchone()
            return f"reached SQLite {sqlite3.sqlite_version} at {dsn.path}"
        finally:
            conn.close()
    except (psycopg.Error, sqlite3.Error, Unreachable) as exc:
        reason = error_reason(exc, dsn=dsn, timeout=timeout)
        raise AssetError(f"connection {connection.name!r}: {reason}") from None


def _pg_version(number: int) -> str:
    if number >= 100000:  # 150019 → 15.19
        return f"{number // 10000}.{number % 10000}"
    return f"{number // 10000}.{number // 100 % 100}.{number % 100}"  # 90624 → 9.6.24
