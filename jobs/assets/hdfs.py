"""HDFS assets over WebHDFS, through HdfsCLI (the `hdfs` package).

Input: hdfs://namenode/path, a file or a folder (every file in it, in name order; hidden
files such as _SUCCESS are skipped). Output: hdfs://namenode/path/file, written under a
hidden temporary name in the same folder and renamed into place only when complete, so the
target never holds partial output.

The namenode in the location is for people; requests go to the connection's WebHDFS URL.
"""

from __future__ import annotations

import logging
import posixpath
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from getpass import getuser
from pathlib import Path

import requests
from django.core.exceptions import ValidationError
from hdfs import HdfsError, InsecureClient

from jobs.assets.base import (
    AssetError,
    Decide,
    FetchedFile,
    InputSource,
    OutputTarget,
    Stop,
    decided,
)
from jobs.formats import format_for_file
from jobs.models import Connection, JobAsset

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
_TIMEOUT = (10, 300)  # seconds to connect, seconds between bytes
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def location_parse(location: str) -> tuple[str, str]:
    """hdfs://namenode/some/path → ("namenode", "/some/path"); ValidationError otherwise."""
    location = location.strip()
    if not location.lower().startswith("hdfs://"):
        raise ValidationError(
            f"{location!r} is not an HDFS location: write hdfs://namenode/path/data.csv "
            "(a file, or a folder to read every file in it)."
        )
    namenode, slash, path = location[7:].partition("/")
    if not slash:
        raise ValidationError(f"{location!r} names no path: write hdfs://{namenode}/path.")
    if any(part == ".." for part in path.split("/")):
        raise ValidationError(f"{location!r}: '..' is not allowed in an HDFS path.")
    return namenode, posixpath.normpath("/" + path.lstrip("/"))


def validate(*, connection: Connection, location: str, query: str, direction: str) -> str:
    if not connection.webhdfs_url:
        raise ValidationError(
            f"Connection {connection.name!r} has no WebHDFS URL; an admin can add it."
        )
    namenode, path = location_parse(location)
    if direction == JobAsset.Direction.OUTPUT:
        if location.strip().endswith("/") or path == "/":
            raise ValidationError(
                f"hdfs://{namenode}{path} is a folder; an output is one file: add a name, "
                f"e.g. hdfs://{namenode}{path.rstrip('/')}/output.jsonl."
            )
        if posixpath.basename(path).startswith((".", "_")):
            raise ValidationError(
                "Output names starting with '.' or '_' are hidden from HDFS readers; "
                "choose another name."
            )
    return f"hdfs://{namenode}{path}"


def connection_test(connection: Connection) -> str:
    if not connection.webhdfs_url:
        raise AssetError(f"connection '{connection.name}': no WebHDFS URL is set")
    with _errors(connection, f"connection '{connection.name}'", "/"):
        status = _client(connection).status("/")
    entries = status.get("childrenNum", 0)
    return (
        f"reached {connection.webhdfs_url} as {_user(connection)}: "
        f"/ holds {entries} entr{'y' if entries == 1 else 'ies'}"
    )


def files_list(*, connection: Connection, location: str, limit: int = 10_000) -> list[str]:
    """hdfs:// locations of the files in LOCATION's folder and its subfolders (hidden ones such
    as _SUCCESS, .x.tmp and _temporary/ skipped), at most LIMIT (an MLC process trigger polls them);
    AssetError when WebHDFS cannot be reached or refuses."""
    namenode, root = location_parse(location)
    found: list[str] = []
    with requests.Session() as session, _errors(connection, f"hdfs://{namenode}{root}", root):
        client = _client(connection, session=session)
        for folder, folders, names in client.walk(root, allow_dir_changes=True):
            folders[:] = [f for f in folders if not f.startswith((".", "_"))]  # _temporary
            found += [
                f"hdfs://{namenode}{posixpath.join(folder, name)}"
                for name in names
                if not name.startswith((".", "_"))
            ]
            if len(found) >= limit:
                break
    return sorted(found)[:limit]


class Source(InputSource):
    def __init__(self, asset: JobAsset) -> None:
        super().__init__(asset)
        self.namenode, self.path = location_parse(asset.location)
        self._files: list[tuple[str, int]] | None = None

    def size(self) -> int | None:
        return sum(length for _, length in self.files())

    def files(self) -> list[tuple[str, int]]:
        """(path, bytes) of every file to read, in name order."""
        if self._files is None:
            with _errors(self.connection, _label(self.asset), self.path):
                self._files = self._find(_client(self.connection))
        return self._files

    def fetch(self, *, dest: Path, stop: Stop | None = None) -> list[FetchedFile]:
        stop = stop or Stop()
        label = _label(self.asset)
        fetched = []
        with requests.Session() as session:  # its connections closed at the end
            client = _client(self.connection, session=session)
            for i, (path, _) in enumerate(self.files()):
                stop.check(label)
                local = dest / f"{i:05d}-{_safe_name(path)}"
                try:
                    with (
                        _errors(self.connection, label, path),
                        client.read(path, chunk_size=CHUNK_BYTES) as chunks,
                        open(local, "wb") as f,
                    ):
                        for chunk in chunks:
                            stop.check(label)
                            f.write(chunk)
                except AssetError:
                    local.unlink(missing_ok=True)
                    raise
                fetched.append(
                    FetchedFile(
                        name=f"hdfs://{self.namenode}{path}", path=local, format=self._format(path)
                    )
                )
        return fetched

    def _find(self, client: InsecureClient) -> list[tuple[str, int]]:
        status = client.status(self.path)
        if status["type"] == "FILE":
            return [(self.path, status["length"])]
        files = sorted(
            (posixpath.join(self.path, name), entry["length"])
            for name, entry in client.list(self.path, status=True)
            if entry["type"] == "FILE" and not name.startswith((".", "_"))
        )
        if not files:
            raise _Missing(f"the folder {self.path} holds no files (nothing to read)")
        return files

    def _format(self, path: str) -> str:
        # A format a person chose holds for every file; otherwise each file's extension.
        try:
            return format_for_file(path, self.asset.format, asset=f"input {self.asset.location!r}")
        except ValueError as exc:
            raise AssetError(str(exc)) from None


class Target(OutputTarget):
    def __init__(self, asset: JobAsset) -> None:
        super().__init__(asset)
        self.namenode, self.path = location_parse(asset.location)

    def publish(
        self, *, staged: Path, decide: Decide | None = None, earlier: dict | None = None
    ) -> dict:
        """One file, replaced whole, so a later attempt has nothing to undo (EARLIER). WebHDFS's
        rename does not replace a file: the old one is renamed aside first (.NAME.previous)
        and removed once the new one is in place; a publish finding it aside with no file in
        place (its worker died between the two renames) puts it back before anything else."""
        client = _client(self.connection)
        label = _label(self.asset)
        folder, name = posixpath.split(self.path)
        temp = posixpath.join(folder, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
        previous = posixpath.join(folder, f".{name}.previous")
        with _errors(self.connection, label, self.path):
            existing = client.status(self.path, strict=False)
            if client.status(previous, strict=False) is not None:
                if existing is None:
                    client.rename(previous, self.path)
                    existing = client.status(self.path, strict=False)
                else:
                    client.delete(previous)
            if existing is not None and existing["type"] != "FILE":
                raise _Missing(f"{self.path} is a folder, not a file")
            aside = False
            try:
                with open(staged, "rb") as data:
                    client.write(temp, data=data)
                decided(decide, {}, label)
                if existing is not None:
                    client.rename(self.path, previous)
                    aside = True
                client.rename(temp, self.path)
            except BaseException:
                try:
                    client.delete(temp)
                    if aside:
                        client.rename(previous, self.path)
                except (HdfsError, requests.RequestException) as exc:
                    logger.warning("could not clean up after a failed write of %s: %s", temp, exc)
                raise
            if existing is not None:
                client.delete(previous)
        location = f"hdfs://{self.namenode}{self.path}"
        return {"location": location, "paths": [location], "bytes": staged.stat().st_size}

    def publish_parts(
        self, *, parts: list[Path], decide: Decide | None = None, earlier: dict | None = None
    ) -> dict:
        """A folder of part files (a Spark job's output) at the location, replacing the folder
        that was there whole: written into a hidden folder beside it (.NAME.<random>.tmp) with
        _SUCCESS last, then renamed into place as publish renames one file, so readers see
        the old folder or the new one, never a part of either."""
        client = _client(self.connection)
        label = _label(self.asset)
        folder, name = posixpath.split(self.path.rstrip("/"))
        path = posixpath.join(folder, name)
        temp = posixpath.join(folder, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
        previous = posixpath.join(folder, f".{name}.previous")
        with _errors(self.connection, label, path):
            existing = client.status(path, strict=False)
            if client.status(previous, strict=False) is not None:
                if existing is None:
                    client.rename(previous, path)
                    existing = client.status(path, strict=False)
                else:
                    client.delete(previous, recursive=True)
            if existing is not None and existing["type"] != "DIRECTORY":
                raise _Missing(f"{path} is a file; a Spark job's output is a folder of parts")
            aside = False
            try:
                client.makedirs(temp)
                for part in parts:
                    with open(part, "rb") as data:
                        client.write(posixpath.join(temp, part.name), data=data)
                client.write(posixpath.join(temp, "_SUCCESS"), data=b"")
                decided(decide, {}, label)
                if existing is not None:
                    client.rename(path, previous)
                    aside = True
                client.rename(temp, path)
            except BaseException:
                try:
                    client.delete(temp, recursive=True)
                    if aside:
                        client.rename(previous, path)
                except (HdfsError, requests.RequestException) as exc:
                    logger.warning("could not clean up after a failed write of %s: %s", temp, exc)
                raise
            if existing is not None:
                client.delete(previous, recursive=True)
        location = f"hdfs://{self.namenode}{path}"
        return {
            "location": location,
            "paths": [f"{location}/{p.name}" for p in parts],
            "bytes": sum(p.stat().st_size for p in parts),
        }


# --- Helpers ------------------------------------------------------------------------------


class _Missing(Exception):
    """Nothing usable where the location points (turned into an AssetError)."""


def _user(connection: Connection) -> str:
    return connection.hdfs_user or getuser()


def _client(connection: Connection, *, session: requests.Session | None = None) -> InsecureClient:
    return InsecureClient(
        connection.webhdfs_url,
        user=_user(connection),
        timeout=_TIMEOUT,
        session=session or requests.Session(),
    )


def _label(asset: JobAsset) -> str:
    direction = "input" if asset.direction == JobAsset.Direction.INPUT else "output"
    return f"{direction} '{asset.location}'"


def _safe_name(path: str) -> str:
    return _UNSAFE.sub("_", posixpath.basename(path)).strip("._") or "file"


@contextmanager
def _errors(connection: Connection, label: str, path: str) -> Iterator[None]:
    """Turn what HdfsCLI and requests raise into an AssetError naming LABEL and the reason."""
    if not connection.webhdfs_url:
        raise AssetError(f"{label}: connection '{connection.name}' has no WebHDFS URL")
    try:
        yield
    except _Missing as exc:
        raise AssetError(f"{label}: {exc}") from None
    except HdfsError as exc:
        if exc.exception == "FileNotFoundException":
            reason = f"no such file or folder {path}"
        elif exc.exception == "AccessControlException":
            reason = f"permission denied for user {_user(connection)} ({exc.message})"
        elif exc.exception:
            reason = f"WebHDFS refused ({exc.exception}): {exc.message}"
        else:
            reason = str(exc.message)
        raise AssetError(f"{label}: {reason}") from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        kind = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
        raise AssetError(
            f"{label}: cannot reach WebHDFS at {connection.webhdfs_url} ({kind}); check the "
            "connection's WebHDFS URL and that the namenode is up"
        ) from None
    except requests.RequestException as exc:
        raise AssetError(f"{label}: WebHDFS request failed: {type(exc).__name__}") from None
