"""External assets (S3, HDFS, SQL): one small module per kind, chosen by the asset's kind.

The worker process, not the model's child process, talks to external systems: an input is
streamed into the job's work dir before the model starts, and the model's output, staged in
the work dir, is published only when the job succeeds, and made visible only once the job
has passed its point of no return (OutputTarget.publish's decide). So credentials never reach model code,
memory stays flat (everything moves in chunks), and a failed job leaves its target untouched.

Each kind's module (jobs/assets/<kind>.py) provides:

    Source(asset)                 an InputSource
    Target(asset)                 an OutputTarget
    validate(*, connection, location, query, direction) -> str
                                  the cleaned location (or query); ValidationError for people
    connection_test(connection) -> str
                                  what was reached; AssetError if it cannot be
"""

from __future__ import annotations

from jobs.assets.base import (
    AssetError,
    Decide,
    Declined,
    FetchedFile,
    InputSource,
    OutputTarget,
    Stop,
    Stopped,
    connection_test,
    input_source,
    location_validate,
    output_target,
)

__all__ = [
    "AssetError",
    "Decide",
    "Declined",
    "FetchedFile",
    "InputSource",
    "OutputTarget",
    "Stop",
    "Stopped",
    "connection_test",
    "input_source",
    "location_validate",
    "output_target",
]
