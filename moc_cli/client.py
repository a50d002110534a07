"""The REST API client: one requests session, and every HTTP failure turned into a MocError
with the exit code scripts rely on."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import click
import requests
from requests.adapters import HTTPAdapter
from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor
from tqdm import tqdm
from urllib3.util.retry import Retry

from moc_cli import __name__ as _package
from moc_cli.errors import AUTH, NOT_FOUND, REJECTED, UNREACHABLE, USAGE, MocError

TIMEOUT = (10, 120)  # seconds to connect, seconds between bytes of the answer
UPLOAD_TIMEOUT = (10, 900)
USER_AGENT = f"{_package}/0.1"

# A refused or failed connection never reached the server: retrying it is always safe; so is
# reading again what a GET asked for (urllib3 retries no POST after a read error).
# A 503's Retry-After is Api.outage_wait's to honour (urllib3 would retry it on its own).
SAFE_RETRY = Retry(total=3, connect=3, read=2, status=0, backoff_factor=0.3, redirect=0,
                   respect_retry_after_header=False)  # fmt: skip
# Job creation carries an Idempotency-Key, so even a request whose answer was lost (the server
# may have made the job) is retried: the server answers the retry with the same job.
KEYED_RETRY = Retry(
    total=4,
    connect=4,
    read=4,
    status=0,  # a 502/503/504 is waited out by Api.outage_wait, which says so
    redirect=0,
    backoff_factor=0.5,
    allowed_methods=None,  # every method, POST included
    respect_retry_after_header=False,
)
# A server that does not answer, or answers that it cannot now (502/503/504: its database is
# not answering, a proxy in front of a server restarting), is waited out this long by every
# request that may be sent again; MOC_OUTAGE_SECONDS sets it (0: not at all).
OUTAGE_SECONDS = 120.0
OUTAGE_STATUSES = (502, 503, 504)


def _outage_seconds() -> float:
    raw = os.environ.get("MOC_OUTAGE_SECONDS", "").strip()
    if not raw:
        return OUTAGE_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if not value >= 0:
        raise MocError(
            f"MOC_OUTAGE_SECONDS must be a number of seconds (0 or more), not {raw!r}.",
            code=USAGE,
        )
    return value


def _retry_after(response: requests.Response) -> float | None:
    """The seconds of a Retry-After header (the HTTP-date form is not worth the parsing)."""
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


_SEND_BLOCK = 1 << 20  # bytes of a request body read at a time (an upload)


class _Adapter(HTTPAdapter):
    """Request bodies read 1 MiB at a time, not urllib3's 16 KiB: an upload's multipart
    encoder costs per read (0.2 s of CPU for a 78 MB file at 16 KiB, 0.03 s at 1 MiB)."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs.setdefault("blocksize", _SEND_BLOCK)
        super().init_poolmanager(*args, **kwargs)


def _session(token: str, retry: Retry) -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "application/json"
    if token:
        session.headers["Authorization"] = f"Token {token}"
    adapter = _Adapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _messages(body, field: str = "") -> list[str]:
    """The error lines of a DRF error body: {"detail": ...} or {"field": ["message", ...]},
    nested ones named like inputs[0].upload."""
    if isinstance(body, dict):
        lines = []
        for key, value in body.items():
            if key in ("detail", "non_field_errors", "__all__"):
                name = field
            elif str(key).isdigit():
                name = f"{field}[{key}]"
            else:
                name = f"{field}.{key}" if field else str(key)
            lines.extend(_messages(value, name))
        return lines
    if isinstance(body, list):
        return [line for item in body for line in _messages(item, field)]
    return [f"{field}: {body}" if field else str(body)]


class Api:
    def __init__(self, *, url: str, token: str = "", outage_seconds: float | None = None) -> None:
        self.url = url
        self.session = _session(token, SAFE_RETRY)
        self.keyed_session = _session(token, KEYED_RETRY)
        self.outage_seconds = _outage_seconds() if outage_seconds is None else outage_seconds

    # --- requests ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str = "",
        keyed: bool = False,
        waits: bool | None = None,
        timeout=TIMEOUT,
        **kwargs,
    ) -> requests.Response:
        """Send a request; WHAT names the object for a 404 message ("Job 1234..."). KEYED
        requests carry an Idempotency-Key and may be retried whatever happened. A request
        that may be sent again (a GET, a KEYED one, or one said to WAIT) waits out an outage."""
        if waits is None:
            waits = keyed or method in ("GET", "HEAD")
        send = functools.partial(
            self._send, method, path, what=what, keyed=keyed, timeout=timeout, **kwargs
        )
        return self.outage_wait(send) if waits else send()

    def outage_wait(self, send: Callable[[], requests.Response]) -> requests.Response:
        """SEND, again and again while the server does not answer or answers that it cannot
        now, for up to outage_seconds, saying so once on stderr. SEND must be safe to repeat."""
        deadline = None
        pause = 0.5
        said = False
        while True:
            try:
                response = send()
            except MocError as exc:
                if not exc.outage or self.outage_seconds <= 0:
                    raise
                now = time.monotonic()
                deadline = deadline or now + self.outage_seconds
                if now >= deadline:
                    raise MocError(
                        f"{exc.message} (tried for {self.outage_seconds:g} s)",
                        code=exc.exit_code,
                    ) from exc
                if not said:
                    click.echo(
                        f"{exc.outage}; retrying for up to {self.outage_seconds:g} s.", err=True
                    )
                    said = True
                wait = exc.retry_after if exc.retry_after is not None else pause
                time.sleep(max(0.1, min(wait, 10.0, deadline - now)))
                pause = min(pause * 2, 5.0)
                continue
            if said:
                click.echo("The server answers again.", err=True)
            return response

    def _send(self, method: str, path: str, *, what: str, keyed: bool, timeout,
              **kwargs) -> requests.Response:  # fmt: skip
        url = path if path.startswith(("http://", "https://")) else self.url + path
        session = self.keyed_session if keyed else self.session
        try:
            response = session.request(method, url, timeout=timeout, **kwargs)
        except requests.exceptions.Timeout as exc:
            raise MocError(
                f"The server at {self.url} did not answer in time; try again later.",
                code=UNREACHABLE,
                outage=f"The server at {self.url} does not answer in time",
            ) from exc
        except requests.exceptions.SSLError as exc:  # a ConnectionError no wait mends
            raise MocError(f"TLS with {self.url} failed: {exc}", code=UNREACHABLE) from exc
        except requests.exceptions.ConnectionError as exc:
            raise MocError(
                f"Cannot reach the server at {self.url}: is it running, and is the address "
                f"right? (`moc init <url>` or MOC_URL)",
                code=UNREACHABLE,
                outage=f"Cannot reach the server at {self.url}",
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise MocError(f"Request to {url} failed: {exc}", code=UNREACHABLE) from exc
        self._check(response, method=method, what=what)
        return response

    def _check(self, response: requests.Response, *, method: str, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        try:
            lines = _messages(response.json())
        except ValueError:
            lines = []
        detail = lines[0] if lines else ""
        if status == 401:
            message = detail or "Not logged in."
            if "moc login" not in message:
                message += " Run `moc login` (or set MOC_TOKEN)."
            raise MocError(message, code=AUTH)
        if status == 403:
            raise MocError(f"Forbidden: {detail or 'you may not do this.'}".rstrip(), code=AUTH)
        if status == 404:
            if what:
                raise MocError(
                    f"{what} not found (unknown, or you may not see it).", code=NOT_FOUND
                )
            raise MocError(
                f"{response.url} not found: is {self.url} the command center's address?",
                code=NOT_FOUND,
            )
        if status in OUTAGE_STATUSES:
            if status == 503 and "database" in detail.lower():
                message = "The server says its database is not answering"
            else:
                message = f"The server is unavailable ({status} {response.reason})"
            raise MocError(
                f"{message} ({status} on {method} {response.url}); try again in a moment.",
                code=UNREACHABLE,
                outage=message,
                retry_after=_retry_after(response),
            )
        if status >= 500:
            raise MocError(
                f"The server failed ({status} on {method} {response.url}); try again later, "
                f"or tell an admin if it goes on.",
                code=UNREACHABLE,
            )
        if not lines:
            lines = [f"The server refused the request ({status} {response.reason})."]
        raise MocError(lines[0], code=REJECTED, details=lines[1:])

    def json(self, method: str, path: str, **kwargs):
        return self._json(self.request(method, path, **kwargs))

    def _json(self, response: requests.Response):
        try:
            return response.json()
        except ValueError as exc:
            raise MocError(
                f"The server at {self.url} did not answer like a command center (no JSON from "
                f"{response.url}); check the address (`moc init <url>` or MOC_URL).",
                code=UNREACHABLE,
            ) from exc

    def get(self, path: str, **kwargs):
        return self.json("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.json("POST", path, **kwargs)

    def pages(self, path: str, *, params: dict | None = None, limit: int | None = None,
              what: str = "") -> Iterator[dict]:  # fmt: skip
        """The items of a list endpoint, following its pages (or a plain list), up to LIMIT."""
        params = dict(params or {})
        if limit:
            params["page_size"] = min(limit, 500)
        count = 0
        url: str | None = path
        while url:
            body = self.get(url, params=params, what=what)
            params = None  # the "next" link carries them
            items = body.get("results", []) if isinstance(body, dict) else body
            url = body.get("next") if isinstance(body, dict) else None
            for item in items:
                yield item
                count += 1
                if limit and count >= limit:
                    return

    # --- files ---------------------------------------------------------------------------------

    def upload(self, path: Path) -> dict:
        """The server's upload of a local file: one it already has (the same SHA-256, uploaded
        by this user or one of their teams: "reused" is then true and nothing is sent), else
        the file streamed to /api/uploads/ with a progress bar on a terminal. An outage is
        waited out, the file sent again whole: an upload that no job uses is swept."""
        digest = file_sha256(path)
        try:
            reused = self.post(
                "/api/uploads/reuse/", json={"sha256": digest, "name": path.name}, waits=True
            )
            return {**reused, "reused": True}
        except MocError as exc:
            if exc.exit_code != NOT_FOUND:
                raise
        sent = self._upload_send(path)
        if sent.get("sha256") and sent["sha256"] != digest:
            raise MocError(
                f"{path} changed while it was uploaded (its SHA-256 is no longer the one read "
                "before); upload it again once it is written.",
                code=REJECTED,
            )
        return {**sent, "reused": False}

    def _upload_send(self, path: Path) -> dict:
        size = path.stat().st_size

        def send() -> requests.Response:
            with (
                open(path, "rb") as f,
                tqdm(
                    total=size, unit="B", unit_scale=True, desc=f"Uploading {path.name}",
                    leave=False, disable=None,
                ) as bar,
            ):  # fmt: skip
                encoder = MultipartEncoder(
                    fields={"file": (path.name, f, "application/octet-stream")}
                )
                seen = 0

                def advance(monitor: MultipartEncoderMonitor) -> None:
                    nonlocal seen
                    bar.update(min(monitor.bytes_read, size) - seen)
                    seen = min(monitor.bytes_read, size)

                monitor = MultipartEncoderMonitor(encoder, advance)
                return self.request(
                    "POST",
                    "/api/uploads/",
                    waits=False,
                    data=monitor,
                    headers={"Content-Type": monitor.content_type},
                    timeout=UPLOAD_TIMEOUT,
                )

        return self._json(self.outage_wait(send))

    def download(self, path: str, out: IO[bytes], *, what: str = "") -> int:
        """Stream a file from the server into OUT; return the bytes written."""
        response = self.request("GET", path, what=what, stream=True)
        written = 0
        with response:
            for chunk in response.iter_content(chunk_size=1 << 16):
                out.write(chunk)
                written += len(chunk)
        out.flush()
        return written


def file_sha256(path: Path, *, chunk: int = 1 << 20) -> str:
    """The SHA-256 of the file at PATH, read a chunk at a time (memory stays flat)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def dumps(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)
