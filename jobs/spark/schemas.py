"""Spark schemas: an Avro record schema (.avsc) as Spark's, and the schema each CSV input is
read with, so that Spark never reads a CSV input whole only to learn its columns' types (its
inferSchema does: on 4,000,000 rows that pass took most of what scoring them took).

A CSV file's columns are its header's, by name, in its order. A column's type is the job's
input schema's for that field when it has one Spark reads from CSV (a primitive other than
bytes); any other column (one the schema does not name, or every column without a schema)
is read with the type Spark's inferSchema gives it in a sample: the first SAMPLE_BYTES of each
file, whole lines (SAMPLE_LINES of a location Spark reads itself), whole numbers as bigint
(never int, so that a larger one further on still fits), a column with no value in the sample
as string. A plain sample (numbers, booleans, text that cannot be a date) is typed here, by
Spark's rules, without a Spark job (_plain_columns); any other by Spark itself.
A field of the schema the header lacks is not read, as a file without it gives none. Files
with the same header line are read together; each such group is one DataFrame, and
LAYOUT_COLUMN says which (the index of its layout in setup["layouts"], which the executors
read a misfit's reject from: executor.py, csv_misfit).

Nothing is read as a silent null: a value that does not fit its column's type (1.5 or "abc"
where the sample had whole numbers, "wide" where the schema says double) makes its record a
reject naming the field and where the type came from, and a record with more fields than
the header one that names how many. For those records Spark leaves the line in
CORRUPT_COLUMN and the positions of the columns it read as null in NULLS_COLUMN, and fills
their integer and boolean nulls in (rejects never reach the model), so that a batch's good
rows keep their int64 and bool dtypes. A record with fewer fields than the header loses
nothing: it is kept, the missing values null, as on every runtime.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from jobs.runner.spec import InputFile
from jobs.spark.executor import CORRUPT_COLUMN, LAYOUT_COLUMN, NULLS_COLUMN

AVRO_TO_SPARK = {
    "int": "int", "long": "bigint", "float": "float", "double": "double",
    "string": "string", "boolean": "boolean", "bytes": "binary",
}  # fmt: skip
_CSV_TYPES = {kind for kind in AVRO_TO_SPARK.values() if kind != "binary"}  # Spark's CSV reads
SAMPLE_BYTES = 1 << 20  # of each local CSV file (fewer when there are many: SAMPLE_TOTAL)
SAMPLE_TOTAL = 16 << 20  # of all local CSV files together, but never under 64 KiB a file
SAMPLE_LINES = 20_000  # of a location Spark reads itself (hdfs://, s3a://)
_LINE_END = re.compile("\r\n|\r|\n")  # as Hadoop's line reader ends lines
_FILLED = {"tinyint": "0", "smallint": "0", "int": "0", "bigint": "0", "boolean": "false"}


def avro_types(path: str) -> dict[str, str | None] | None:
    """The fields of the Avro record schema at PATH (a file in the work dir) and the Spark
    type of each: None for a field whose type is not a primitive (a record, an array, a
    logical type); None when there is no such file or it has no fields."""
    if not path or not Path(path).is_file():
        return None
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    fields: dict[str, str | None] = {}
    for field in raw.get("fields", []) if isinstance(raw, dict) else []:
        if not isinstance(field, dict) or not isinstance(field.get("name"), str):
            return None
        kind = field.get("type")
        if isinstance(kind, list):  # a union: its first branch that is not null
            kind = next((k for k in kind if k != "null"), None)
        fields[field["name"]] = AVRO_TO_SPARK.get(kind) if isinstance(kind, str) else None
    return fields or None


def avro_ddl(path: str) -> str | None:
    """The Avro record schema at PATH as a Spark DDL schema; None when there is none or a
    field is not a primitive."""
    fields = avro_types(path)
    if not fields or None in fields.values():
        return None
    return ", ".join(f"{quoted(name)} {kind}" for name, kind in fields.items())


def quoted(name: str) -> str:
    """NAME as a column in Spark SQL and DDL (a dot in it is no nested field)."""
    return "`" + name.replace("`", "``") + "`"


def csv_frames(spark, items: list[InputFile], schema_path: str) -> tuple[list, list[dict]]:
    """The CSV inputs ITEMS as DataFrames, one per header (see above), and their layouts:
    {"columns": [[name, Spark type, from the schema], ...], "schema", "sample"}."""
    fields = avro_types(schema_path) or {}
    declared = {name: kind for name, kind in fields.items() if kind in _CSV_TYPES}
    local = sum(1 for i in items if not i.url)
    each = max(64 << 10, min(SAMPLE_BYTES, SAMPLE_TOTAL // max(local, 1)))
    frames, layouts = [], []
    for names, lines, paths, sample in _samples(spark, items, each):
        sampled = _sampled(spark, lines, infer=not declared)
        if declared and any(name not in declared for name, _ in sampled):
            sampled = _sampled(spark, lines, infer=True)  # columns the schema lacks
        columns = [
            [name, declared[name], True] if name in declared else [name, kind, False]
            for name, kind in sampled
        ]
        frames.append(_read(spark, paths, columns, len(layouts)))
        layouts.append({"columns": columns, "schema": schema_path, "sample": sample})
        print(_described(names, columns, schema_path, sample), flush=True)
    return frames, layouts


def _samples(spark, items: list[InputFile], each: int):
    """(input names, sample lines, paths, what the sample is) per header line: a local file's
    first EACH bytes, whole lines; a location Spark reads itself on its own, its first lines
    from Spark. Files with no line (empty) are left out: they have no records."""
    groups: dict[str, tuple[list[str], list[str], list[str], str]] = {}
    for item in items:
        if item.url:
            rows = spark.read.text(item.url).limit(SAMPLE_LINES).collect()
            lines = [r[0] for r in rows if r[0].strip()]
            what = f"the first {SAMPLE_LINES:,} lines of {item.url}"
        else:
            lines = _head(item.path, each)
            what = f"the first {_size(each)} of each file"
        if not lines:
            continue
        key = f"{item.url}\n" if item.url else lines[0]
        names, sample, paths, _ = groups.setdefault(key, ([], [], [], what))
        names.append(item.name)
        sample.extend(lines if not sample else lines[1:])  # the header once
        paths.append(item.url or item.path)
    return list(groups.values())


def _head(path: str, size: int) -> list[str]:
    """The lines that are not blank in the first SIZE bytes of the file at PATH, the last
    one left out when the file goes on past them (it may be cut short)."""
    with open(path, "rb") as f:
        data = f.read(size + 1)
    lines = _LINE_END.split(data[:size].decode("utf-8-sig", "replace"))  # Spark skips a BOM
    if len(data) > size:
        lines.pop()
    return [line for line in lines if line.strip()]


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


def _sampled(spark, lines: list[str], *, infer: bool) -> list[tuple[str, str]]:
    """(name, Spark type) of each column of the CSV sample LINES (its header first) as Spark
    reads them, whole numbers as bigint; every type string unless INFER. Told here when the
    sample is plain enough to be sure of it (_plain_columns); else by Spark, which takes a
    Spark job and the sample's trip to the JVM (seconds as a session's first job)."""
    from pyspark.sql.types import StructType

    if (columns := _plain_columns(lines, infer=infer)) is not None:
        return columns
    import pandas as pd

    # To the JVM by Arrow, read there as a Dataset of strings: pyspark's RDD of lines would
    # start a Python worker (seconds, with the daemon off).
    frame = spark.createDataFrame(pd.DataFrame({"value": lines}))
    text = getattr(frame._jdf, "as")(spark._jvm.org.apache.spark.sql.Encoders.STRING())
    reader = spark.read.options(header=True, inferSchema=infer)._jreader
    schema = StructType.fromJson(json.loads(reader.csv(text).schema().json()))
    return [(f.name, _widened(f.dataType.simpleString())) for f in schema.fields]


def _widened(kind: str) -> str:
    return "bigint" if kind in ("tinyint", "smallint", "int") else kind


# What Spark's CSV inference (CSVInferSchema) makes of a value, where it is sure: a whole
# number Long.parseLong reads; a decimal with digits after the point and no exponent (Spark
# takes 1. or 1.5e1 for decimal(2,0)); NaN and the infinities; true or false in any case.
_LONG = r"[+-]?[0-9]{1,18}"
_DOUBLE = r"[+-]?[0-9]*\.[0-9]+|NaN|-?Inf|[+-]?Infinity"
_BOOLEAN = r"(?i:true|false)"
_LONGER = r"^[+-]?[0-9]{19,}$"  # a long or a decimal(p,0): Spark says
_TEMPORAL = r"^[\x00-\x20]*[+-]?[Tt]?[0-9]"  # Spark may take it for a date or a time


def _plain_columns(lines: list[str], *, infer: bool) -> list[tuple[str, str]] | None:
    """The columns of the CSV sample LINES as Spark would read them, or None when the sample
    has what only Spark can say how it reads: a quote or an escape (its tokenizer decides),
    a header name that is empty or repeated (it renames them), text that is not ASCII, a
    value it might read as a date or time or a decimal."""
    text = "\n".join(lines)
    if '"' in text or "\\" in text or not text.isascii():
        return None
    header, *rows = lines
    names = header.split(",")
    if not all(names) or len({n.lower() for n in names}) < len(names):
        return None
    if not infer:
        return [(name, "string") for name in names]
    # A header again (another file's, of a folder) is no row: Spark skips it too.
    split = [row.split(",") for row in rows if row != header]
    if all(len(cells) == len(names) for cells in split):
        values = list(zip(*split, strict=True)) or [()] * len(names)
    else:  # Spark infers from the fields a row has, and ignores those past the header's
        values = [[cells[n] for cells in split if n < len(cells)] for n in range(len(names))]
    columns = [(name, _plain_type(v)) for name, v in zip(names, values, strict=True)]
    return None if any(kind is None for _, kind in columns) else columns


def _plain_type(values) -> str | None:
    """The Spark type of a column of VALUES (of a plain sample); None when Spark says."""
    import pyarrow as pa
    import pyarrow.compute as pc

    found = pa.array([v for v in values if v], pa.string())  # "" is null, in any type

    def matches(pattern: str):
        return pc.match_substring_regex(found, f"^(?:{pattern})$")

    if not len(found):
        return "string"  # as Spark reads a column of nulls
    for kind, pattern in (("bigint", _LONG), ("double", f"{_LONG}|{_DOUBLE}"),
                          ("boolean", _BOOLEAN)):  # fmt: skip
        if pc.all(matches(pattern)).as_py():
            return kind
    if pc.any(pc.match_substring_regex(found, _LONGER)).as_py():
        return None
    text = found.filter(pc.invert(matches(f"{_LONG}|{_DOUBLE}|{_BOOLEAN}")))
    return None if pc.any(pc.match_substring_regex(text, _TEMPORAL)).as_py() else "string"


def _read(spark, paths: list[str], columns: list[list], layout: int):
    """The files at PATHS read with COLUMNS (header order), a misfit record marked."""
    from pyspark.sql import functions as F

    ddl = ", ".join(f"{quoted(name)} {kind}" for name, kind, _ in columns)
    frame = (
        spark.read.schema(f"{ddl}, {quoted(CORRUPT_COLUMN)} string")
        .options(header=True, mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT_COLUMN)
        .csv(paths)
    )
    bad = F.col(quoted(CORRUPT_COLUMN)).isNotNull()
    nulls = F.concat_ws(",", *[F.when(F.col(quoted(name)).isNull(), F.lit(str(i)))
                               for i, (name, _, _) in enumerate(columns)])  # fmt: skip
    selected = []
    for name, kind, _ in columns:
        column = F.col(quoted(name))
        if kind in _FILLED:  # a reject's null would make its batch's column float or object
            filler = F.lit(_FILLED[kind]).cast(kind)
            column = F.when(bad, F.coalesce(column, filler)).otherwise(column).alias(name)
        selected.append(column)
    return frame.select(
        *selected,
        F.col(quoted(CORRUPT_COLUMN)),
        F.when(bad, nulls).alias(NULLS_COLUMN),
        F.lit(layout).alias(LAYOUT_COLUMN),
    )


def _described(names: list[str], columns: list[list], schema_path: str, sample: str) -> str:
    given = [name for name, _, declared in columns if declared]
    guessed = [name for name, _, declared in columns if not declared]
    sources = []
    if given:
        sources.append(f"the input schema {schema_path} ({', '.join(given)})")
    if guessed:
        sources.append(f"{sample} ({', '.join(guessed)})")
    files = ", ".join(f"'{n}'" for n in names[:5]) + (f" and {len(names) - 5} more"
                                                     if len(names) > 5 else "")  # fmt: skip
    read = ", ".join(f"{name} {kind}" for name, kind, _ in columns)
    return f"Spark: CSV {files} read as {read}; types from {' and '.join(sources)}"
