"""Makes the class-data archive of Spark drivers (jobs/worker/sparkclasses.py): a Spark session
in local mode that does what jobs do (reads and writes CSV, JSON lines and Parquet, scores
with mapInPandas), in a JVM that writes the classes it loaded to an archive as it exits
(Java's dynamic class-data sharing). Run by the worker, never by model code:

    python -m jobs.spark.classes ARCHIVE WORK_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path


def _identity(batches):
    yield from batches


def main(archive: str, work: str) -> None:
    import pandas as pd

    from jobs.spark.session import JAVA_OPTIONS, session_end, session_start

    folder = Path(work)  # the worker's new folder for this archive
    spark = session_start(
        {"master": "local[1]", "app_name": "moc class archive",
         "conf": {JAVA_OPTIONS: f"-XX:ArchiveClassesAtExit={archive}",
                  "spark.ui.enabled": "false"}},
        {}, tmp=str(folder),
    )  # fmt: skip
    try:
        frame = spark.createDataFrame(pd.DataFrame({"id": [1, 2, 3], "x": [0.5, None, 2.0]}))
        for fmt in ("csv", "json", "parquet"):
            path = str(folder / fmt)
            frame.write.mode("overwrite").option("header", "true").format(fmt).save(path)
            read = spark.read.schema(frame.schema).option("header", "true").format(fmt)
            scored = read.load(path).mapInPandas(_identity, frame.schema)
            scored.write.mode("overwrite").format(fmt).save(path + "-out")
    finally:
        session_end(spark)  # the JVM writes the archive as it exits


if __name__ == "__main__":
    main(*sys.argv[1:3])
