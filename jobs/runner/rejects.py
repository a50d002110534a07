"""Rejected records: rejects.jsonl, the job log, and the job's limits on them.

A record is rejected when it cannot be decoded (input), fails a schema check, makes the score
function raise, or gives an output that cannot be encoded. Each one is one line of
rejects.jsonl: {"direction", "record", "reason", "data"} and, where known, "asset" and "line".
The job goes on with the next record unless the job's options say to stop:

    stop_on_bad_records   the first reject ends the job in ERROR, naming the record
    max_rejects           more than N rejects end it in ERROR at once
    max_rejects_percent   more than P % of the records read rejected: ERROR at the end
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from jobs.runner.errors import JobError
from jobs.runner.events import Counts
from jobs.runner.writers import json_line

LOGGED_REJECTS = 100  # the log names this many; the rejects file has them all


@dataclass
class RejectLimits:
    stop_on_bad_records: bool = False
    max_rejects: int | None = None
    max_rejects_percent: float | None = None

    @classmethod
    def of(cls, spec) -> RejectLimits:
        return cls(
            stop_on_bad_records=bool(getattr(spec, "stop_on_bad_records", False)),
            max_rejects=getattr(spec, "max_rejects", None),
            max_rejects_percent=getattr(spec, "max_rejects_percent", None),
        )


class Rejects:
    """rejects.jsonl, opened on first use; every add counts in COUNTS and obeys LIMITS."""

    def __init__(self, path: str, counts: Counts, limits: RejectLimits | None = None) -> None:
        self.path = path
        self.counts = counts
        self.limits = limits or RejectLimits()
        self.file = None

    def add(
        self,
        *,
        direction: str,
        record: int,
        reason: str,
        data: Any,
        asset: str = "",
        line: int | None = None,
    ) -> None:
        if self.file is None:
            self.file = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        entry: dict[str, Any] = {"direction": direction, "record": record, "reason": reason}
        if line is not None:
            entry["line"] = line
        if asset:
            entry["asset"] = asset
        try:
            self.file.write(json_line({**entry, "data": data}))
        except TypeError:  # the rejected value itself is not JSON: keep its repr
            self.file.write(json_line({**entry, "data": repr(data)}))
        self.counts.records_rejected += 1
        what = _describe(direction, record, asset, line)
        n = self.counts.records_rejected
        if n <= LOGGED_REJECTS:
            print(f"rejected {what}: {reason}", file=sys.stderr)
            if n == LOGGED_REJECTS:
                print(
                    f"(only the first {LOGGED_REJECTS} rejects are logged; the rejects file "
                    f"has every one)",
                    file=sys.stderr,
                )
        limits = self.limits
        if limits.stop_on_bad_records:
            self.close()
            raise JobError(f"stopped on the first bad record: {what}: {reason}")
        if limits.max_rejects is not None and n > limits.max_rejects:
            self.close()
            raise JobError(
                f"stopped: more than {limits.max_rejects} records were rejected "
                f"(the error threshold); the last, {what}: {reason}"
            )

    def finish(self) -> None:
        """Close the file; the percentage threshold is judged on all records read."""
        self.close()
        percent = self.limits.max_rejects_percent
        read, rejected = self.counts.records_read, self.counts.records_rejected
        if percent is not None and rejected and rejected * 100 > percent * max(read, 1):
            share = 100 * rejected / max(read, 1)
            raise JobError(
                f"{rejected:,} of {read:,} records were rejected ({share:.3g} %), more than "
                f"the error threshold of {percent:g} %"
            )

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def _describe(direction: str, record: int, asset: str, line: int | None) -> str:
    text = f"{direction} record {record}"
    if line is not None:
        text += f" (line {line})"
    if asset:
        text += f" of '{asset}'"
    return text
