"""Which external inputs a Spark application reads itself, and with what.

On a Spark runtime the worker does not copy an HDFS, S3 or SQL input into the work dir: it
lists what there is to read (so a missing path fails as on every runtime, in words) and hands
Spark the locations (hdfs:// or webhdfs://, s3a://, a JDBC query) with the configuration to
read them. The job's credentials go in the secret file beside the spec, so they reach that
job's session only, never the runtime's stored configuration.

The runtime's Spark configuration ``spark.moc.staging`` says when the worker stages instead:
``auto`` (the default) stages only for a local master that cannot read the location itself
(no Hadoop configuration for HDFS, no S3A connector for S3, no JDBC driver for SQL), ``never``
lets Spark read everything (a missing connector is then the job's ERROR, in words), ``always``
stages everything, as a process runtime does.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from jobs.assets import input_source
from jobs.assets.base import AssetError
from jobs.models import JobAsset, Runtime
from jobs.runner.errors import JobError
from jobs.runner.spec import InputFile
from jobs.spark.session import is_local

STAGING_KEY = "spark.moc.staging"
STAGING_MODES = ("auto", "never", "always")
# Where Debian's libpostgresql-jdbc-java puts the PostgreSQL JDBC driver.
DEBIAN_POSTGRES_JAR = "/usr/share/java/postgresql.jar"
JDBC_PASSWORD_PREFIX = "moc.jdbc.password."  # + the input's position: a secret, never conf


@dataclass
class Plan:
    """How a Spark job gets one input: FILES for Spark to read (url set), or None to stage."""

    files: list[InputFile] | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    hadoop_user: str = ""
    jars: list[str] = field(default_factory=list)
    note: str = ""  # for the job log: which way, and why


def staging_mode(runtime: Runtime) -> str:
    mode = str((runtime.spark_conf or {}).get(STAGING_KEY) or "auto").strip().lower()
    if mode not in STAGING_MODES:
        raise JobError(
            f"runtime {runtime.name}: {STAGING_KEY} is {mode!r}; it must be one of "
            f"{', '.join(STAGING_MODES)} (staff can change it in the admin)"
        )
    return mode


def _jar_dirs() -> list[Path]:
    dirs = []
    if spec := importlib.util.find_spec("pyspark"):
        dirs.append(Path(spec.origin).parent / "jars")
    if home := os.environ.get("SPARK_HOME"):
        dirs.append(Path(home) / "jars")
    return dirs


def has_jar(runtime: Runtime, name: str) -> bool:
    """Whether the runtime's configuration or the Spark installation names a jar NAME-*."""
    conf = runtime.spark_conf or {}
    for key in ("spark.jars", "spark.jars.packages", "spark.driver.extraClassPath"):
        if name in str(conf.get(key) or ""):
            return True
    return any(any(d.glob(f"{name}-*.jar")) for d in _jar_dirs() if d.is_dir())


def postgres_jar(runtime: Runtime) -> str:
    """The PostgreSQL JDBC driver the runtime names, else Debian's when installed; "" if none."""
    if has_jar(runtime, "postgresql"):
        return "configured"
    return DEBIAN_POSTGRES_JAR if os.path.isfile(DEBIAN_POSTGRES_JAR) else ""


def input_plan(*, asset: JobAsset, runtime: Runtime, pyspark: bool) -> Plan:
    """How the Spark job on RUNTIME gets the external input ASSET; PYSPARK: the model reads
    its inputs itself (ModelOp's contract), which it can only do from files."""
    mode = staging_mode(runtime)
    if mode == "always":
        return Plan(note="staged by the worker (spark.moc.staging is always)")
    local = is_local(runtime.spark_master or "local[*]")
    auto = mode == "auto"
    if asset.kind == JobAsset.Kind.HDFS:
        if auto and local and not os.environ.get("HADOOP_CONF_DIR"):
            return Plan(
                note="staged by the worker: a local master without the cluster's Hadoop "
                "configuration (HADOOP_CONF_DIR) reads HDFS through the worker"
            )
        return _hdfs(asset)
    if asset.kind == JobAsset.Kind.S3:
        if auto and local and not has_jar(runtime, "hadoop-aws"):
            return Plan(
                note="staged by the worker: this local master has no S3A connector "
                "(hadoop-aws) for Spark to read s3a:// itself"
            )
        return _s3(asset)
    if asset.kind == JobAsset.Kind.SQL:
        return _sql(asset, runtime, local=local, auto=auto, pyspark=pyspark)
    return Plan(note="staged by the worker")


def _hdfs(asset: JobAsset) -> Plan:
    from jobs.assets.hdfs import _user

    source = input_source(asset)
    connection = asset.connection
    if os.environ.get("HADOOP_CONF_DIR"):  # the cluster's own client: RPC to its namenode
        base, how = f"hdfs://{source.namenode}", "the cluster's Hadoop configuration"
    else:
        parts = urlsplit(connection.webhdfs_url)
        scheme = "swebhdfs" if parts.scheme == "https" else "webhdfs"
        base, how = f"{scheme}://{parts.netloc}", f"WebHDFS at {parts.netloc}"
    files = [
        InputFile(
            name=f"hdfs://{source.namenode}{path}", path="", format=source._format(path),
            url=f"{base}{path}",
        )
        for path, _ in source.files()
    ]  # fmt: skip
    return Plan(
        files=files,
        hadoop_user=_user(connection),
        note=f"read by Spark from {base}{source.path} ({how})",
    )


def _s3(asset: JobAsset) -> Plan:
    from jobs.assets.s3 import connection_refusal

    source = input_source(asset)
    connection = asset.connection
    if refusal := connection_refusal(connection, bucket=source.bucket):
        raise AssetError(f"connection '{connection.name}': {refusal}")
    files = [
        InputFile(
            name=f"s3://{source.bucket}/{key}", path="", format=source._format(key),
            url=f"s3a://{source.bucket}/{key}",
        )
        for key, _ in source.objects()
    ]  # fmt: skip
    return Plan(
        files=files,
        secrets=s3a_secrets(connection, source.bucket),
        note=f"read by Spark from s3a://{source.bucket}/{source.key} (the connection's "
        "credentials set for this job's session only)",
    )


def s3a_secrets(connection, bucket: str) -> dict[str, str]:
    """S3A's per-bucket configuration for CONNECTION: it holds for BUCKET only, so two
    connections of one job never share keys. Blank keys: the worker's own credentials
    (S3A's default chain), as boto3's chain on the worker."""
    prefix = f"spark.hadoop.fs.s3a.bucket.{bucket}."
    conf = {}
    if connection.access_key_id:
        conf[prefix + "access.key"] = connection.access_key_id
        conf[prefix + "secret.key"] = connection.secret_access_key
        conf[prefix + "aws.credentials.provider"] = (
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        )
    if connection.endpoint_url:
        conf[prefix + "endpoint"] = connection.endpoint_url
        conf[prefix + "path.style.access"] = "true"
        if connection.endpoint_url.startswith("http://"):
            conf[prefix + "connection.ssl.enabled"] = "false"
    if connection.region:
        conf[prefix + "endpoint.region"] = connection.region
    return conf


def _sql(asset: JobAsset, runtime: Runtime, *, local: bool, auto: bool, pyspark: bool) -> Plan:
    from jobs.assets.sql.databases import DsnError, dsn_parse, timeout_of
    from jobs.assets.sql.statements import StatementError, query_clean

    if pyspark:
        return Plan(note="staged by the worker: a PySpark model reads its inputs from files")
    connection = asset.connection
    try:
        dsn = dsn_parse(connection)
        query = query_clean(asset.query)
        timeout = timeout_of(connection)
    except (DsnError, StatementError) as exc:
        raise AssetError(f"input {asset.name!r}: {exc}") from None
    if not dsn.is_postgres:
        return Plan(note="staged by the worker: Spark reads only PostgreSQL through JDBC")
    jar = postgres_jar(runtime)
    if not jar and auto and local:
        return Plan(
            note="staged by the worker: no PostgreSQL JDBC driver on this local master "
            "(apt-get install libpostgresql-jdbc-java, or name it in spark.jars)"
        )
    parts = urlsplit(dsn.raw)
    params = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("password", "user")]
    user = unquote(parts.username or "") or dict(parse_qsl(parts.query)).get("user", "")
    password = unquote(parts.password or "") or dict(parse_qsl(parts.query)).get("password", "")
    host = parts.hostname or "localhost"
    netloc = f"[{host}]" if ":" in host else host
    url = f"jdbc:postgresql://{netloc}:{parts.port or 5432}{parts.path or '/'}"
    if params:
        url += "?" + urlencode(params)
    secret = f"{JDBC_PASSWORD_PREFIX}{asset.position}"
    options = {"url": url, "query": query, "user": user, "readOnly": "true",
               "queryTimeout": str(timeout.seconds)}  # fmt: skip
    if password:
        options["password_secret"] = secret  # the driver takes it from the secrets
    files = [InputFile(name=asset.name, path="", format="jdbc", url=url, options=options)]
    return Plan(
        files=files,
        secrets={secret: password} if password else {},
        jars=[jar] if jar and jar != "configured" else [],
        note=f"read by Spark through JDBC from {dsn.display()}",
    )
