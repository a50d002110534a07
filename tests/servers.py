"""Real servers on loopback for the S3 and HDFS tests (fixtures, loaded by tests/conftest.py).

S3 is moto's server mode (a Flask app in a thread of the test process); HDFS is a small
WebHDFS server written here on http.server, backed by a temp folder, speaking the protocol
as the namenode and datanodes do (307 redirects to a "datanode" for OPEN and CREATE,
RemoteException JSON bodies for errors). A throttling TCP proxy stands for a slow network.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import boto3
import pytest
from botocore.config import Config

# --- S3 (moto) --------------------------------------------------------------------------------


@dataclass
class S3Server:
    endpoint: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"

    def client(self, *, secret_access_key: str | None = None):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=secret_access_key or self.secret_access_key,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )

    def connection(self, name: str = "lake", **fields):
        from jobs.models import Connection

        values = {
            "kind": Connection.Kind.S3,
            "endpoint_url": self.endpoint,
            "region": self.region,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            **fields,
        }
        return Connection(name=name, **values)  # unsaved: .save() it where a row is needed


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 on 127.0.0.1, with an IAM user allowed s3:* (its keys are the ones to use;
    authentication is enforced only inside the s3_auth_enforced fixture)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    iam = boto3.client(
        "iam", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap",
    )  # fmt: skip
    iam.create_user(UserName="commandcenter")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_user_policy(
        UserName="commandcenter", PolicyName="s3-all", PolicyDocument=json.dumps(policy)
    )
    key = iam.create_access_key(UserName="commandcenter")["AccessKey"]
    yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    server.stop()


@pytest.fixture
def s3_auth_enforced(s3_server):
    """Make moto check every request's signature and the IAM policy, as AWS does. moto's
    presigned-URL check does not work under enforcement, so it is off outside this fixture."""
    from moto import settings as moto_settings
    from moto.core.authorization import ActionAuthenticatorMixin

    before = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    yield s3_server
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = before


@pytest.fixture
def s3_bucket(s3_server) -> str:
    """A new empty bucket for one test."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


class ThrottledProxy:
    """A TCP proxy on 127.0.0.1 to TARGET that passes answers on at RATE bytes a second per
    connection, as a slow network would. It counts the answer bytes passed on (`sent`) and
    the connections still open (`open`): one closes when its client closes it. Clearing
    `gate` holds what clients send until it is set again."""

    def __init__(self, target: tuple[str, int], *, rate: int) -> None:
        self.target, self.rate = target, rate
        self.sent = 0
        self.open = 0
        # Cleared: what clients send waits here (`holding` is set once something does).
        self.gate = threading.Event()
        self.gate.set()
        self.holding = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            with self._lock:
                self.open += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.target)
        asking = threading.Thread(target=self._pump, args=(client, upstream), daemon=True)
        asking.start()
        self._pump(upstream, client, throttled=True)
        asking.join()
        client.close()
        upstream.close()
        with self._lock:
            self.open -= 1

    def _pump(self, source: socket.socket, sink: socket.socket, *, throttled=False) -> None:
        try:
            while data := source.recv(16 * 1024):
                if not throttled and not self.gate.is_set():
                    self.holding.set()
                    self.gate.wait(60)
                sink.sendall(data)
                if throttled:
                    with self._lock:
                        self.sent += len(data)
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:  # either side gone: the other goes too
            for sock in (source, sink):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- HDFS (a WebHDFS server) -------------------------------------------------------------------

_PREFIX = "/webhdfs/v1"
_CHUNK = 64 * 1024


class _Remote(Exception):
    """An error answered as WebHDFS does: status and a RemoteException body."""

    def __init__(self, status: int, exception: str, message: str) -> None:
        super().__init__(message)
        self.status, self.exception, self.message = status, exception, message


class WebHdfsServer:
    """WebHDFS on 127.0.0.1 over the folder ROOT. Paths under DENIED answer
    AccessControlException; fail_next_write makes the next datanode write store half of its
    data and then fail, as a datanode that dies mid-stream; hold(OP) keeps requests of that op
    waiting until the event it returns is set."""

    def __init__(self, root: Path, *, denied: tuple[str, ...] = ()) -> None:
        self.root = root
        self.denied = denied
        self.fail_next_write = False
        self.read_delay = 0.0  # seconds between the chunks a datanode sends, for a slow read
        self.reading = 0  # datanode reads still sending
        self.requests: list[tuple[str, str, str]] = []  # (method, op, path)
        self.holds: dict[str, threading.Event] = {}
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _WebHdfsHandler)
        self._httpd.daemon_threads = True
        self._httpd.hdfs = self
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> WebHdfsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def local(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def hold(self, op: str) -> threading.Event:
        """Requests of OP (CREATE, RENAME, ...) wait, once recorded in .requests, until the
        event returned is set."""
        self.holds[op] = threading.Event()
        return self.holds[op]

    def connection(self, name: str = "hadoop", **fields):
        from jobs.models import Connection

        values = {"kind": Connection.Kind.HDFS, "webhdfs_url": self.url, "hdfs_user": "alice"}
        return Connection(name=name, **{**values, **fields})  # unsaved, as for S3


class _WebHdfsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: no body left unread

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    @property
    def hdfs(self) -> WebHdfsServer:
        return self.server.hdfs

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        op = params.get("op", "").upper()
        path = posixpath.normpath("/" + unquote(url.path[len(_PREFIX) :]).strip("/"))
        self.hdfs.requests.append((method, op, path))
        if op in self.hdfs.holds:
            self.hdfs.holds[op].wait(60)
        try:
            if not url.path.startswith(_PREFIX) or ".." in path.split("/"):
                raise _Remote(400, "IllegalArgumentException", f"Invalid path {url.path!r}")
            handler = getattr(self, f"_op_{op.lower()}", None)
            if handler is None:
                raise _Remote(
                    400, "IllegalArgumentException",
                    f'Invalid value for webhdfs parameter "op": {op}',
                )  # fmt: skip
            self._check_access(method, params.get("user.name", "dr.who"), path)
            if "destination" in params:
                self._check_access(method, params.get("user.name", "dr.who"),
                                   params["destination"])  # fmt: skip
            handler(method, path, params)
        except _Remote as exc:
            body = {"exception": exc.exception, "javaClassName": f"org.apache.{exc.exception}",
                    "message": exc.message}  # fmt: skip
            self._json(exc.status, {"RemoteException": body})

    def _check_access(self, method: str, user: str, path: str) -> None:
        for prefix in self.hdfs.denied:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                access = "READ_EXECUTE" if method == "GET" else "WRITE"
                raise _Remote(
                    403, "AccessControlException",
                    f'Permission denied: user={user}, access={access}, '
                    f'inode="{prefix}":hdfs:supergroup:drwx------',
                )  # fmt: skip

    # --- responses

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _redirect_to_datanode(self, path: str, params: dict) -> None:
        location = f"{self.hdfs.url}{_PREFIX}{quote(path)}?" + urlencode(
            {**params, "datanode": "true"}
        )
        self.send_response(307)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _existing(self, path: str) -> Path:
        local = self.hdfs.local(path)
        if not local.exists():
            raise _Remote(404, "FileNotFoundException", f"File does not exist: {path}")
        return local

    @staticmethod
    def _status(local: Path, suffix: str) -> dict:
        st = local.stat()
        is_dir = local.is_dir()
        return {
            "accessTime": int(st.st_atime * 1000),
            "blockSize": 0 if is_dir else 134217728,
            "childrenNum": len(os.listdir(local)) if is_dir else 0,
            "fileId": st.st_ino,
            "group": "supergroup",
            "length": 0 if is_dir else st.st_size,
            "modificationTime": int(st.st_mtime * 1000),
            "owner": "hdfs",
            "pathSuffix": suffix,
            "permission": "755" if is_dir else "644",
            "replication": 0 if is_dir else 3,
            "type": "DIRECTORY" if is_dir else "FILE",
        }

    def _body_chunks(self) -> Iterator[bytes]:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                yield self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            chunk = self.rfile.read(min(_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk

    # --- operations

    def _op_getfilestatus(self, method: str, path: str, params: dict) -> None:
        self._json(200, {"FileStatus": self._status(self._existing(path), "")})

    def _op_liststatus(self, method: str, path: str, params: dict) -> None:
        local = self._existing(path)
        if local.is_dir():
            statuses = [self._status(child, child.name) for child in sorted(local.iterdir())]
        else:
            statuses = [self._status(local, "")]
        self._json(200, {"FileStatuses": {"FileStatus": statuses}})

    def _op_gethomedirectory(self, method: str, path: str, params: dict) -> None:
        self._json(200, {"Path": f"/user/{params.get('user.name', 'dr.who')}"})

    def _op_open(self, method: str, path: str, params: dict) -> None:
        local = self._existing(path)
        if local.is_dir():
            raise _Remote(404, "FileNotFoundException", f"Path is not a file: {path}")
        if params.get("datanode") != "true":
            return self._redirect_to_datanode(path, params)
        offset = int(params.get("offset") or 0)
        size = local.stat().st_size - offset
        if params.get("length"):
            size = min(size, int(params["length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.hdfs.reading += 1
        try:
            with open(local, "rb") as f:
                f.seek(offset)
                while size > 0 and (chunk := f.read(min(_CHUNK, size))):
                    self.wfile.write(chunk)
                    size -= len(chunk)
                    time.sleep(self.hdfs.read_delay)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the reader went away
        finally:
            self.hdfs.reading -= 1

    def _op_create(self, method: str, path: str, params: dict) -> None:
        local = self.hdfs.local(path)
        if local.is_dir() or (local.exists() and params.get("overwrite") != "true"):
            raise _Remote(403, "FileAlreadyExistsException", f"{path} already exists")
        if params.get("datanode") != "true":
            return self._redirect_to_datanode(path, params)
        local.parent.mkdir(parents=True, exist_ok=True)
        failing, self.hdfs.fail_next_write = self.hdfs.fail_next_write, False
        written = 0
        with open(local, "wb") as f:
            for chunk in self._body_chunks():
                if failing and written:
                    break  # keep what came so far, as a half-written block
                f.write(chunk)
                written += len(chunk)
        if failing:
            raise _Remote(500, "IOException", "All datanodes are bad. Aborting...")
        self.send_response(201)
        self.send_header("Location", f"hdfs://127.0.0.1{path}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _op_mkdirs(self, method: str, path: str, params: dict) -> None:
        local = self.hdfs.local(path)
        if local.is_file():
            raise _Remote(403, "FileAlreadyExistsException", f"{path} is a file")
        local.mkdir(parents=True, exist_ok=True)
        self._json(200, {"boolean": True})

    def _op_rename(self, method: str, path: str, params: dict) -> None:
        source = self.hdfs.local(path)
        dest_path = posixpath.normpath(params.get("destination", ""))
        dest = self.hdfs.local(dest_path)
        if dest.is_dir():
            dest = dest / source.name
        if not source.exists() or dest.exists() or not dest.parent.is_dir():
            return self._json(200, {"boolean": False})
        source.rename(dest)
        self._json(200, {"boolean": True})

    def _op_delete(self, method: str, path: str, params: dict) -> None:
        local = self.hdfs.local(path)
        if not local.exists():
            return self._json(200, {"boolean": False})
        if local.is_dir():
            if any(local.iterdir()) and params.get("recursive", "").lower() != "true":
                raise _Remote(
                    403, "PathIsNotEmptyDirectoryException", f"`{path} is non empty': "
                    "Directory is not empty",
                )  # fmt: skip
            shutil.rmtree(local)
        else:
            local.unlink()
        self._json(200, {"boolean": True})


@pytest.fixture
def webhdfs_server(tmp_path_factory) -> Iterator[WebHdfsServer]:
    """A WebHDFS server over a fresh folder; /secure is off limits to everyone."""
    root = tmp_path_factory.mktemp("hdfs")
    server = WebHdfsServer(root, denied=("/secure",)).start()
    yield server
    server.stop()


def spark_parts(tmp_path: Path, names=("part-00000-a.json", "part-00001-a.json")) -> list[Path]:
    """A folder of part files as a Spark job leaves it in its work dir: a record in each."""
    folder = tmp_path / "spark-output"
    folder.mkdir()
    for i, name in enumerate(names):
        (folder / name).write_bytes(f'{{"id": {i}}}\n'.encode())
    return sorted(folder.iterdir())
