"""The REST API client: one requests session, and every HTTP failure turned into a MocError
with the exit code scripts rely on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import requests
from requests.adapters import HTTPAdapter
from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor
from tqdm import tqdm
from urllib3.util.retry import Retry

from moc_cli import __name__ as _package
from moc_cli.errors import AUTH, NOT_FOUND, REJECTED, UNREACHABLE, MocError

TIMEOUT = (10, 120)  # seconds to connect, seconds between bytes of the answer
UPLOAD_TIMEOUT = (10, 900)
USER_AGENT = f"{_package}/0.1"

# A refused or failed connection never reached the server: retrying it is always safe; so is
# reading again what a GET asked for (urllib3 retries no POST after a read error).
SAFE_RETRY = Retry(total=3, connect=3, read=2, status=0, backoff_factor=0.3, redirect=0)
# Job creation carries an Idempotency-Key, so even a request whose answer was lost (the server
# may have made the job) is retried: the server answers the retry with the same job.
KEYED_RETRY = Retry(
    total=4,
    connect=4,
    read=4,
    status=4,
    redirect=0,
    backoff_factor=0.5,
    allowed_methods=None,  # every method, POST included
    status_forcelist=(502, 503, 504),
    raise_on_status=False,
)


def _session(token: str, retry: Retry) -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "application/json"
    if token:
        session.headers["Authorization"] = f"Token {token}"
    adapter = HTTPAdapter(max_retries=retry)
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
    def __init__(self, *, url: str, token: str = "") -> None:
        self.url = url
        self.session = _session(token, SAFE_RETRY)
        self.keyed_session = _session(token, KEYED_RETRY)

    # --- requests ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str = "",
        keyed: bool = False,
        timeout=TIMEOUT,
        **kwargs,
    ) -> requests.Response:
        """Send a request; WHAT names the object for a 404 message ("Job 1234..."). KEYED
        requests carry an Idempotency-Key and may be retried whatever happened."""
        url = path if path.startswith(("http://", "https://")) else self.url + path
        session = self.keyed_session if keyed else self.session
        try:
            response = session.request(method, url, timeout=timeout, **kwargs)
        except requests.exceptions.Timeout as exc:
            raise MocError(
                f"The server at {self.url} did not answer in time; try again later.",
                code=UNREACHABLE,
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            raise MocError(
                f"Cannot reach the server at {self.url}: is it running, and is the address "
                f"right? (`moc init <url>` or MOC_URL)",
                code=UNREACHABLE,
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
        response = self.request(method, path, **kwargs)
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
        """Stream a local file to /api/uploads/, with a progress bar on a terminal."""
        size = path.stat().st_size
        with (
            open(path, "rb") as f,
            tqdm(
                total=size, unit="B", unit_scale=True, desc=f"Uploading {path.name}",
                leave=False, disable=None,
            ) as bar,
        ):  # fmt: skip
            encoder = MultipartEncoder(fields={"file": (path.name, f, "application/octet-stream")})
            seen = 0

            def advance(monitor: MultipartEncoderMonitor) -> None:
                nonlocal seen
                bar.update(min(monitor.bytes_read, size) - seen)
                seen = min(monitor.bytes_read, size)

            monitor = MultipartEncoderMonitor(encoder, advance)
            return self.post(
                "/api/uploads/",
                data=monitor,
                headers={"Content-Type": monitor.content_type},
                timeout=UPLOAD_TIMEOUT,
            )

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


def dumps(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)
