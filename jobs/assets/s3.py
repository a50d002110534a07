"""S3 assets through boto3, against AWS or any S3-compatible endpoint (MinIO, Ceph, ...).

Input: s3://bucket/key (one object) or s3://bucket/prefix/ (every object under it, in key
order). Output: s3://bucket/key, written in one request when small, else as a multipart
upload that is completed only when every part is in, and aborted on any failure, so the key
never holds partial output.

Every S3 call goes through _client, which refuses two things whatever the path (job submit,
the wizard, the worker's fetch and publish, the download link): a connection without keys
whose staff did not allow the worker's own credentials (boto3's chain, which may be the very
keys of the storage bucket), and the command center's own storage bucket
(settings.STORAGE_S3_BUCKET), which holds every team's uploads, snapshots and outputs.
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import boto3
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from django.conf import settings
from django.core.exceptions import ValidationError
from s3transfer.exceptions import CancelledError
from s3transfer.exceptions import RetriesExceededError as TransferRetriesExceededError

from jobs.assets.base import (
    AssetError,
    Decide,
    FetchedFile,
    InputSource,
    OutputTarget,
    Stop,
    Stopped,
    decided,
)
from jobs.formats import format_for_file
from jobs.models import Connection, JobAsset

logger = logging.getLogger(__name__)

# Objects at least this big are uploaded in parts; S3 wants parts of 5 MiB or more (but the
# last) and at most 10,000 of them. One part is in memory at a time.
MULTIPART_THRESHOLD = 64 * 1024 * 1024
PART_BYTES = 16 * 1024 * 1024
_MAX_PARTS = 10_000
_DOWNLOAD = TransferConfig(multipart_chunksize=8 * 1024 * 1024, max_concurrency=4)
_UPLOAD = TransferConfig(
    multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=PART_BYTES, max_concurrency=4
)

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_DENIED = {"403", "AccessDenied", "Forbidden", "AllAccessDisabled", "AccountProblem"}


def location_parse(location: str) -> tuple[str, str]:
    """s3://bucket/some/key → ("bucket", "some/key"); ValidationError if it is not one."""
    location = location.strip()
    if not location.lower().startswith("s3://"):
        raise ValidationError(
            f"{location!r} is not an S3 location: write s3://bucket/path/data.csv "
            "(or s3://bucket/prefix/ for every object under a prefix)."
        )
    bucket, _, key = location[5:].partition("/")
    if not bucket:
        raise ValidationError(f"{location!r} names no bucket: write s3://bucket/path.")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ValidationError(
            f"{bucket!r} is not a valid bucket name (3 to 63 lowercase letters, digits, "
            "dots and hyphens)."
        )
    return bucket, key


NO_KEYS = "this connection has no keys; ask staff to add keys or allow the worker's own credentials"
HALF_KEYS = (
    "this connection has only half its keys (an access key ID and a secret access key go "
    "together); ask staff to complete them"
)


def connection_refusal(connection: Connection, *, bucket: str = "") -> str:
    """Why CONNECTION may not be used (for BUCKET), for a person; "" when it may."""
    has_id, has_secret = bool(connection.access_key_id), bool(connection.secret_access_key)
    if has_id != has_secret:
        return HALF_KEYS
    if not has_id and not connection.use_worker_credentials:
        return NO_KEYS
    if storage_bucket_named(bucket=bucket, endpoint_url=connection.endpoint_url):
        return (
            f"s3://{settings.STORAGE_S3_BUCKET}/ is the command center's own storage bucket; "
            "no connection may read or write it"
        )
    return ""


def storage_bucket_named(*, bucket: str, endpoint_url: str) -> bool:
    """Whether BUCKET, or an endpoint that puts a bucket in its host name or path, is the
    storage bucket. By name on every endpoint: another name for the storage endpoint (an IP
    address, a proxy, an alias) cannot be told from a different server."""
    storage = (getattr(settings, "STORAGE_S3_BUCKET", "") or "").lower()
    if not storage:
        return False
    if bucket.lower() == storage:
        return True
    if not endpoint_url:
        return False
    parts = urlsplit(endpoint_url.strip())
    host = (parts.hostname or "").lower()
    first_segment = parts.path.strip("/").split("/", 1)[0].lower()
    return host.startswith(f"{storage}.") or first_segment == storage


def validate(*, connection: Connection, location: str, query: str, direction: str) -> str:
    bucket, key = location_parse(location)
    refusal = connection_refusal(connection, bucket=bucket)
    if refusal:
        raise ValidationError(f"Connection '{connection.name}': {refusal}.")
    if direction == JobAsset.Direction.OUTPUT:
        if not key:
            raise ValidationError(
                f"Name the object to write, e.g. s3://{bucket}/scores/output.jsonl."
            )
        if key.endswith("/"):
            raise ValidationError(
                f"s3://{bucket}/{key} is a prefix; an output is one object: add a name, "
                f"e.g. s3://{bucket}/{key}output.jsonl."
            )
    return f"s3://{bucket}/{key}"


def keys_list(*, connection: Connection, location: str, limit: int = 10_000) -> list[str]:
    """The keys of the objects under LOCATION's prefix, at most LIMIT (an MLC process trigger
    polls them); AssetError when the connection may not be used or S3 refuses."""
    bucket, prefix = location_parse(location)
    client = _client(connection, bucket=bucket)
    keys: list[str] = []
    with _errors(connection, f"s3://{bucket}/{prefix}", bucket=bucket, key=prefix):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/")]
            if len(keys) >= limit:
                break
    return keys[:limit]


def connection_test(connection: Connection) -> str:
    with _errors(connection, f"connection '{connection.name}'"):
        buckets = _client(connection).list_buckets().get("Buckets", [])
    count = len(buckets)
    return f"reached {_endpoint(connection)}: {count} bucket{'' if count == 1 else 's'}"


def presigned_url(asset: JobAsset, *, expires: int = 3600) -> str:
    """A link that downloads ASSET's object for EXPIRES seconds, without credentials."""
    bucket, key = location_parse(asset.published.get("location") or asset.location)
    filename = PurePosixPath(key).name.replace('"', "")
    with _errors(asset.connection, _label(asset)):
        return _client(asset.connection, bucket=bucket).generate_presigned_url(
            "get_object",
            Params={
                "Bucket": bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=expires,
        )


class Source(InputSource):
    # When set (size(), in the web process), listing a prefix gives up at this time.monotonic().
    _deadline: float | None = None

    def __init__(self, asset: JobAsset) -> None:
        super().__init__(asset)
        self.bucket, self.key = location_parse(asset.location)
        self._objects: list[tuple[str, int]] | None = None

    def size(self) -> int | None:
        """The objects' total size, for the wizard's review step: the web process lists a
        prefix for at most S3_LIST_TIMEOUT_SECONDS (and S3_PREFIX_MAX_OBJECTS objects)."""
        self._deadline = time.monotonic() + settings.S3_LIST_TIMEOUT_SECONDS
        return sum(size for _, size in self.objects())

    def objects(self) -> list[tuple[str, int]]:
        """(key, bytes) of every object to read, in key order."""
        if self._objects is None:
            with _errors(self.connection, _label(self.asset), bucket=self.bucket, key=self.key):
                self._objects = self._find(_client(self.connection, bucket=self.bucket))
        return self._objects

    def fetch(self, *, dest: Path, stop: Stop | None = None) -> list[FetchedFile]:
        stop = stop or Stop()
        label = _label(self.asset)
        client = _client(self.connection, bucket=self.bucket)
        fetched = []
        try:
            # Leaving the block waits for the transfer threads: none writes after it.
            with create_transfer_manager(client, _DOWNLOAD) as transfers:
                for i, (key, _) in enumerate(self.objects()):
                    stop.check(label)
                    path = dest / f"{i:05d}-{_safe_name(key)}"
                    with _errors(self.connection, label, bucket=self.bucket, key=key):
                        _download(transfers, self.bucket, key, path, stop=stop, label=label)
                    fetched.append(
                        FetchedFile(
                            name=f"s3://{self.bucket}/{key}", path=path, format=self._format(key)
                        )
                    )
        finally:
            client.close()
        return fetched

    def _find(self, client) -> list[tuple[str, int]]:
        if self.key and not self.key.endswith("/"):
            try:
                head = client.head_object(Bucket=self.bucket, Key=self.key)
                return [(self.key, head["ContentLength"])]
            except ClientError as exc:
                if _code(exc) not in _NOT_FOUND:
                    raise
            # s3://bucket/folder written without its slash: read the folder.
            objects = self._list(client, self.key + "/")
            if not objects:
                _bucket_check(client, self.bucket)
                raise _Missing(f"no object s3://{self.bucket}/{self.key}")
            return objects
        objects = self._list(client, self.key)
        if not objects:
            where = f"under the prefix {self.key!r}" if self.key else "in the bucket"
            raise _Missing(f"no objects {where} (nothing to read)")
        return objects

    def _list(self, client, prefix: str) -> list[tuple[str, int]]:
        """The data objects under PREFIX, in key order. At most S3_PREFIX_MAX_OBJECTS are
        listed (a job reads them all, and the list is held in memory), else AssetError."""
        most, label = settings.S3_PREFIX_MAX_OBJECTS, _label(self.asset)
        objects = []
        listed = 0
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            listed += len(page.get("Contents", []))
            if listed > most:
                raise AssetError(
                    f"{label}: more than {most:,} objects under this prefix; name a narrower "
                    "one (S3_PREFIX_MAX_OBJECTS)"
                )
            if self._deadline is not None and time.monotonic() > self._deadline:
                raise AssetError(
                    f"{label}: listing this prefix took longer than "
                    f"{settings.S3_LIST_TIMEOUT_SECONDS:g} s ({listed:,} listed so far)"
                )
            for item in page.get("Contents", []):
                key = item["Key"]
                name = key.rsplit("/", 1)[-1]
                # Folder markers, and hidden files such as Spark's _SUCCESS, are not data.
                if not name or name.startswith(("_", ".")):
                    continue
                objects.append((key, item["Size"]))
        return sorted(objects)

    def _format(self, key: str) -> str:
        # A format a person chose holds for every file; otherwise each file's extension.
        try:
            return format_for_file(key, self.asset.format, asset=f"input {self.asset.location!r}")
        except ValueError as exc:
            raise AssetError(str(exc)) from None


class Target(OutputTarget):
    def __init__(self, asset: JobAsset) -> None:
        super().__init__(asset)
        self.bucket, self.key = location_parse(asset.location)

    def publish(
        self, *, staged: Path, decide: Decide | None = None, earlier: dict | None = None
    ) -> dict:
        """One object, replaced whole, so a later attempt has nothing to undo (EARLIER)."""
        size = staged.stat().st_size
        client = _client(self.connection, bucket=self.bucket)
        label = _label(self.asset)
        with _errors(self.connection, label, bucket=self.bucket, key=self.key):
            if size < MULTIPART_THRESHOLD:
                decided(decide, {}, label)  # the one request makes it visible
                with open(staged, "rb") as body:
                    client.put_object(Bucket=self.bucket, Key=self.key, Body=body)
                parts = 1
            else:
                parts = self._multipart(client, staged, size, decide, label)
        location = f"s3://{self.bucket}/{self.key}"
        return {"location": location, "keys": [location], "bytes": size, "parts": parts}

    def publish_parts(
        self, *, parts: list[Path], decide: Decide | None = None, earlier: dict | None = None
    ) -> dict:
        """A folder of part files (a Spark job's output) under the location's prefix,
        replacing what was there. S3 has no rename: the parts are uploaded under a hidden
        prefix (_moc-<job>.tmp/, which Spark and our reader skip) before the point of no
        return; then _SUCCESS goes first, the parts are copied into place (server side), the
        old objects they do not replace are deleted and _SUCCESS is written last, so a reader
        that waits for _SUCCESS never sees a mixture. A worker that dies in that last step
        leaves it to the job's next attempt, which replaces the folder again."""
        client = _client(self.connection, bucket=self.bucket)
        label = _label(self.asset)
        prefix = self.key.rstrip("/") + "/"
        tag = self.asset.job.uuid.hex[:12] if self.asset.job_id else uuid.uuid4().hex[:12]
        temp = f"{prefix}_moc-{tag}.tmp/"
        names = [p.name for p in parts]
        with _errors(self.connection, label, bucket=self.bucket, key=prefix):
            self._delete(client, [k for k, _ in self._listed(client, temp)])  # a dead attempt's
            try:
                with create_transfer_manager(client, _UPLOAD) as transfers:
                    uploads = [transfers.upload(str(p), self.bucket, temp + p.name) for p in parts]
                    for upload in uploads:
                        upload.result()
                decided(decide, {}, label)
            except BaseException:
                try:
                    self._delete(client, [k for k, _ in self._listed(client, temp)])
                except (BotoCoreError, ClientError) as exc:
                    logger.warning("could not remove the parts left under %s: %s", temp, exc)
                raise
            self._delete(client, [prefix + "_SUCCESS"])
            for name in names:
                client.copy({"Bucket": self.bucket, "Key": temp + name}, self.bucket,
                            prefix + name, Config=_UPLOAD)  # fmt: skip
            old = [
                key for key, _ in self._listed(client, prefix)
                if not key[len(prefix):].startswith(("_", ".")) and key[len(prefix):] not in names
            ]  # fmt: skip
            self._delete(client, old)
            client.put_object(Bucket=self.bucket, Key=prefix + "_SUCCESS", Body=b"")
            self._delete(client, [temp + name for name in names])
        location = f"s3://{self.bucket}/{prefix}"
        return {
            "location": location,
            "keys": [f"{location}{name}" for name in names],
            "bytes": sum(p.stat().st_size for p in parts),
            "parts": len(parts),
        }

    def _listed(self, client, prefix: str) -> list[tuple[str, int]]:
        listed = []
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            listed.extend((item["Key"], item["Size"]) for item in page.get("Contents", []))
        return listed

    def _delete(self, client, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1,000 keys at most
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def _multipart(self, client, staged: Path, size: int, decide, label: str) -> int:
        part_bytes = max(PART_BYTES, math.ceil(size / _MAX_PARTS))
        upload_id = client.create_multipart_upload(Bucket=self.bucket, Key=self.key)["UploadId"]
        try:
            parts = []
            with open(staged, "rb") as f:
                while chunk := f.read(part_bytes):
                    number = len(parts) + 1
                    answer = client.upload_part(
                        Bucket=self.bucket, Key=self.key, UploadId=upload_id,
                        PartNumber=number, Body=chunk,
                    )  # fmt: skip
                    parts.append({"ETag": answer["ETag"], "PartNumber": number})
            decided(decide, {}, label)  # every part is in, none visible until completed
            client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )  # fmt: skip
        except BaseException:
            # Nothing becomes visible before completion; aborting frees the stored parts.
            try:
                client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload_id)
            except (BotoCoreError, ClientError) as exc:
                logger.warning(
                    "could not abort the upload to s3://%s/%s: %s", self.bucket, self.key, exc
                )
            raise
        return len(parts)


# --- Helpers ------------------------------------------------------------------------------


class _Missing(Exception):
    """Nothing to read where the location points (turned into an AssetError)."""


def _client(connection: Connection, *, bucket: str = ""):
    """A boto3 client for CONNECTION (to use on BUCKET); AssetError if it may not be used."""
    refusal = connection_refusal(connection, bucket=bucket)
    if refusal:
        raise AssetError(f"connection '{connection.name}': {refusal}")
    # Blank keys here mean the staff allowed the worker's own credentials (boto3's chain).
    session = boto3.session.Session(
        aws_access_key_id=connection.access_key_id or None,
        aws_secret_access_key=connection.secret_access_key or None,
        region_name=connection.region or None,
    )
    config = Config(
        signature_version="s3v4",
        connect_timeout=10,
        read_timeout=120,
        retries={"max_attempts": 3, "mode": "standard"},
        # Endpoints other than AWS (MinIO, ...) seldom serve bucket-named host names.
        s3={"addressing_style": "path"} if connection.endpoint_url else {},
    )
    return session.client("s3", endpoint_url=connection.endpoint_url or None, config=config)


def _download(transfers, bucket: str, key: str, path: Path, *, stop: Stop, label: str) -> None:
    """One object into PATH, in parts, through a temporary file renamed when complete. A stop
    cancels it: each part ends after the chunk it reads (256 KiB), the temporary file is
    removed."""
    download = transfers.download(bucket, key, str(path))
    try:
        with stop.breaking(download.cancel):
            download.result()
    except CancelledError:
        raise Stopped(f"{label}: stopped") from None
    except TransferRetriesExceededError as exc:  # what failed each time, for _errors
        raise exc.last_exception from None


def _endpoint(connection: Connection) -> str:
    return connection.endpoint_url or f"AWS S3 ({connection.region or 'default region'})"


def _label(asset: JobAsset) -> str:
    direction = "input" if asset.direction == JobAsset.Direction.INPUT else "output"
    return f"{direction} '{asset.location}'"


def _safe_name(key: str) -> str:
    return _UNSAFE.sub("_", key.rsplit("/", 1)[-1]).strip("._") or "object"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _bucket_check(client, bucket: str) -> None:
    """Raise the ClientError of a missing or forbidden bucket; None when it is there."""
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if _code(exc) in _NOT_FOUND:
            raise ClientError({"Error": {"Code": "NoSuchBucket"}}, "HeadBucket") from None
        raise


@contextmanager
def _errors(
    connection: Connection, label: str, *, bucket: str = "", key: str = ""
) -> Iterator[None]:
    """Turn what boto3 raises into an AssetError naming LABEL and the reason, for a person."""
    try:
        yield
    except _Missing as exc:
        raise AssetError(f"{label}: {exc}") from None
    except ClientError as exc:
        reason = _client_error_reason(exc, bucket=bucket, key=key)
        raise AssetError(_scrub(f"{label}: {reason}", connection)) from None
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        raise AssetError(
            f"{label}: cannot reach {_endpoint(connection)} ({type(exc).__name__}); check the "
            "connection's endpoint URL and that the server is up"
        ) from None
    except ReadTimeoutError:
        raise AssetError(f"{label}: {_endpoint(connection)} stopped answering") from None
    except NoCredentialsError:
        raise AssetError(
            f"{label}: connection '{connection.name}' uses the worker's own credentials, and "
            "the worker has none"
        ) from None
    except BotoCoreError as exc:
        raise AssetError(_scrub(f"{label}: {exc}", connection)) from None


def _client_error_reason(exc: ClientError, *, bucket: str, key: str) -> str:
    code = _code(exc)
    if code == "NoSuchBucket":
        return f"bucket {bucket!r} does not exist"
    if code in _NOT_FOUND:
        return f"no object s3://{bucket}/{key}"
    if code == "InvalidAccessKeyId":
        return "access denied: the connection's access key ID is not known to this endpoint"
    if code == "SignatureDoesNotMatch":
        return "access denied: the connection's secret access key does not match its key ID"
    if code in _DENIED:
        return (
            f"access denied to bucket {bucket!r}: check the connection's credentials and "
            "that they may use this bucket"
            if bucket
            else "access denied: check the connection's credentials"
        )
    message = exc.response.get("Error", {}).get("Message") or "no message"
    return f"S3 refused ({code}): {message}"


def _scrub(text: str, connection: Connection) -> str:
    secret = connection.secret_access_key
    return text.replace(secret, "[secret]") if secret else text
