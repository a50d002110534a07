"""The job's inputs as one Spark DataFrame: files the worker staged, or locations Spark reads
itself (hdfs://, webhdfs://, s3a://, a JDBC query; jobs/worker/sparkdata.py). Each row
carries the file it came from and the start of its split (FILE_COLUMN, BLOCK_COLUMN), so a
reject can name its input record as on every runtime (see RecordNumbers). CSV files are read
with the job's input schema or types from a sample, never a pass of their own (schemas.py)."""

from __future__ import annotations

from collections import defaultdict
from urllib.parse import unquote, urlsplit

from jobs.runner.errors import JobError
from jobs.runner.spec import InputFile
from jobs.spark.executor import BLOCK_COLUMN, CORRUPT_COLUMN, FILE_COLUMN
from jobs.spark.schemas import csv_frames

S3A_CLASS = "org.apache.hadoop.fs.s3a.S3AFileSystem"
# pyspark's Hadoop client is shaded (hadoop-client-api/-runtime): it relocates the JAX-RS API
# that WebHdfsFileSystem parses every answer with, but ships no relocated Jersey runtime for it.
SHADED_JAX_RS = "org.apache.hadoop.shaded.javax.ws.rs.ext.RuntimeDelegate"
SHADED_JERSEY = "org.apache.hadoop.shaded.org.glassfish.jersey.internal.RuntimeDelegateImpl"


def _has_class(spark, name: str) -> bool:
    try:  # the loader Hadoop finds its file systems with (spark.jars included)
        spark._jsc.hadoopConfiguration().getClassByName(name)
    except Exception:
        return False
    return True


def connectors_check(spark, inputs: list[InputFile]) -> None:
    """JobError, in words, when Spark lacks what reading INPUTS' locations needs (every
    missing piece at once, so one run tells the operator all there is to add)."""
    schemes = {urlsplit(i.url).scheme for i in inputs if i.url}
    missing = []
    if "s3a" in schemes and not _has_class(spark, S3A_CLASS):
        missing.append(
            "this Spark cluster has no S3A connector, so it cannot read s3a:// itself: put the "
            "hadoop-aws jar of its Hadoop version and the AWS SDK bundle on its classpath (for "
            "example spark.jars.packages=org.apache.hadoop:hadoop-aws:<Hadoop version>)"
        )
    if schemes & {"webhdfs", "swebhdfs"} and (
        _has_class(spark, SHADED_JAX_RS) and not _has_class(spark, SHADED_JERSEY)
    ):
        missing.append(
            "this Spark's Hadoop client cannot speak WebHDFS: it is the shaded client pyspark "
            "ships (hadoop-client-api/-runtime), which lacks the Jersey runtime Hadoop's "
            "WebHdfsFileSystem needs (ClassNotFoundException: ...RuntimeDelegateImpl); read "
            "hdfs:// with the cluster's Hadoop configuration (HADOOP_CONF_DIR on the worker) "
            "or use a Spark built with a full Hadoop"
        )
    if missing:
        raise JobError(
            "; and ".join(missing) + "; or set spark.moc.staging to auto (a local master) or "
            "always to let the worker stage these inputs"
        )


def _key(location: str) -> tuple[str, str]:
    """A file's identity as Spark names it (input_file_name()) and as the spec does."""
    parts = urlsplit(location)
    if parts.scheme in ("", "file"):
        return "", unquote(parts.path)
    return parts.netloc, unquote(parts.path)


def inputs_read(spark, inputs: list[InputFile], secrets: dict, *, input_schema: str = "") -> tuple:
    """INPUTS as one DataFrame, files of one format read together (CSV files: of one header,
    with INPUT_SCHEMA's types and a sample's, schemas.py); and the CSV files' layouts."""
    from pyspark.sql import functions as F

    connectors_check(spark, inputs)
    groups: dict[str, list[str]] = defaultdict(list)
    frames, read, layouts = [], [], []
    for item in inputs:
        if item.format == "jdbc":
            frames.append(_jdbc(spark, item, secrets))
        elif item.format != "csv":
            groups[item.format].append(item.url or item.path)
    if csv := [i for i in inputs if i.format == "csv"]:
        read, layouts = csv_frames(spark, csv, input_schema)
    for fmt, paths in groups.items():
        reader = spark.read
        if fmt == "parquet":
            read.append(reader.parquet(*paths))
        else:  # JSON lines (a JSON array file: one multi-line document)
            read.append(
                reader.option("mode", "PERMISSIVE")
                .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
                .option("multiLine", fmt == "json")
                .json(paths)
            )
    for frame in read:
        frames.append(
            frame.withColumn(FILE_COLUMN, F.input_file_name()).withColumn(
                BLOCK_COLUMN, F.input_file_block_start()
            )
        )
    if not frames:  # CSV files with not even a header: no records
        return spark.createDataFrame([], f"{FILE_COLUMN} string, {BLOCK_COLUMN} bigint"), []
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.unionByName(other, allowMissingColumns=True)
    return frame, layouts


def _jdbc(spark, item: InputFile, secrets: dict):
    from pyspark.sql import functions as F

    options = {k: v for k, v in item.options.items() if k != "password_secret"}
    if secret := item.options.get("password_secret"):
        options["password"] = secrets.get(secret, "")
    frame = spark.read.format("jdbc").options(driver="org.postgresql.Driver", **options).load()
    return frame.withColumn(FILE_COLUMN, F.lit(item.name)).withColumn(BLOCK_COLUMN, F.lit(0))


class RecordNumbers:
    """Input record numbers from (file, split start, index in split): the executors count the
    rows of each split (an accumulator: a retried task counts the same again, so the counts
    are merged by max); a record's number is the rows of the file's earlier splits plus its
    index, from 1, per input file as the process runtime numbers them."""

    def __init__(self, inputs: list[InputFile], blocks: dict) -> None:
        self.names = {_key(i.url or i.path): i.name for i in inputs}
        self.names.update({("", i.name): i.name for i in inputs if i.format == "jdbc"})
        by_file: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for (file, start), rows in blocks.items():
            by_file[file].append((start, rows))
        self.offsets: dict[tuple[str, int], int] = {}
        for file, splits in by_file.items():
            before = 0
            for start, rows in sorted(splits):
                self.offsets[(file, start)] = before
                before += rows

    def of(self, file: str, start: int, index: int) -> tuple[str, int]:
        """(the input's name, the record's number) for a row at INDEX of a split."""
        name = self.names.get(_key(file)) or self.names.get(("", file)) or file
        return name, self.offsets.get((file, start), 0) + index + 1
