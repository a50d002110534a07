from __future__ import annotations

import importlib
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from django.core.exceptions import ValidationError

from jobs.models import Connection, JobAsset
from jobs.runner.errors import JobError

logger = logging.getLogger(__name__)

_MODULES = {
    JobAsset.Kind.S3: "jobs.assets.s3",
    JobAsset.Kind.HDFS: "jobs.assets.hdfs",
    JobAsset.Kind.SQL: "jobs.assets.sql",
}


class AssetError(JobError):
    """An external asset cannot be read or written. The message names the asset and says why,
    for a person: "input 's3://bucket/x.csv': no such key", "output table 'scores': ..."."""


class Stopped(AssetError):
    """A fetch was stopped from outside (the job was cancelled, taken back or ran out of
    time); what it had written is gone."""


class Declined(AssetError):
    """publish was told not to make its output visible (the job was cancelled or taken back
    before its point of no return): what it had staged is gone, the target is as it was."""


# Called by publish right before the step that makes the output visible, with what a later
# attempt needs to undo this one; False: do not make it visible (see jobs.services.lifecycle
# .job_publish_decide).
Decide = Callable[[dict], bool]


def decided(decide: Decide | None, record: dict, label: str) -> None:
    """Declined unless DECIDE (when there is one) says yes to RECORD."""
    if decide is not None and not decide(record):
        raise Declined(f"{label}: not published, the job ended meanwhile; left as it was")


class Stop:
    """A signal to stop a fetch, set from another thread (the supervisor's). Sources check it
    between chunks, parts and row batches, and break off what blocks meanwhile (a running
    query, an S3 transfer) with a hook held by `breaking`."""

    def __init__(self) -> None:
        self._event = threading.Event()
        # Held while hooks run, so a source's hook never runs on a connection it has closed.
        self._lock = threading.Lock()
        self._hooks: list[Callable[[], object]] = []

    def set(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            for hook in self._hooks:
                _run_hook(hook)

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self, label: str) -> None:
        """Stopped when the signal is set."""
        if self._event.is_set():
            raise Stopped(f"{label}: stopped")

    @contextmanager
    def breaking(self, hook: Callable[[], object]) -> Iterator[None]:
        """Call HOOK (from the thread that sets the signal) should it be set inside the block;
        at once if it is set already."""
        with self._lock:
            if self._event.is_set():
                _run_hook(hook)
            self._hooks.append(hook)
        try:
            yield
        finally:
            with self._lock:
                self._hooks.remove(hook)


def _run_hook(hook: Callable[[], object]) -> None:
    try:
        hook()
    except Exception:  # the fetch stops at its next check anyway
        logger.warning("could not break off a fetch", exc_info=True)


@dataclass
class FetchedFile:
    name: str  # as people know it, e.g. the S3 key (used in the child's error messages)
    path: Path
    format: str  # one of jobs.formats.FORMATS


class InputSource(ABC):
    def __init__(self, asset: JobAsset) -> None:
        self.asset = asset
        self.connection = asset.connection

    def size(self) -> int | None:
        """Bytes to read, where that is cheap to learn (None otherwise)."""
        return None

    @abstractmethod
    def fetch(self, *, dest: Path, stop: Stop | None = None) -> list[FetchedFile]:
        """Stream the data into new files under DEST (an empty folder), in chunks, in order.
        Raise AssetError on any failure, Stopped once STOP is set: promptly, with nothing
        left writing under DEST, its files removed and the connection closed."""


class OutputTarget(ABC):
    # The format the model's output is staged in before publishing; None keeps the asset's.
    staged_format: str | None = None

    def __init__(self, asset: JobAsset) -> None:
        self.asset = asset
        self.connection = asset.connection

    @abstractmethod
    def publish(
        self, *, staged: Path, decide: Decide | None = None, earlier: dict | None = None
    ) -> dict:
        """Move the staged output to the target, all or nothing (no partial output is ever
        visible there on failure). Return what was written, e.g. {"keys": [...], "rows": n},
        for the job page. Raise AssetError on failure.

        Publishing and the job's completion are one decision: once everything is in place
        and nothing of it visible yet, DECIDE(record) is called; on False what was staged is
        removed and Declined raised, on True the output is made visible (a commit, an
        upload's completion, a rename), and the job can no longer be cancelled. RECORD says
        what a later attempt of the job must undo first should this one's worker die before
        COMPLETE (rows it appended); that attempt gets it back as EARLIER."""

    def publish_parts(
        self, *, parts: list[Path], decide: Decide | None = None, earlier: dict | None = None
    ) -> dict:
        """As publish, for a folder of part files (a Spark job's output): the location becomes
        that folder with _SUCCESS in it, replacing what was there."""
        raise AssetError(f"output '{self.asset.name}' cannot take a folder of part files")


def _module(kind: str) -> ModuleType:
    try:
        return importlib.import_module(_MODULES[kind])
    except KeyError:
        raise ValidationError(f"Assets of kind {kind!r} are not supported.") from None


def input_source(asset: JobAsset) -> InputSource:
    return _module(asset.kind).Source(asset)


def output_target(asset: JobAsset) -> OutputTarget:
    return _module(asset.kind).Target(asset)


def location_validate(
    *, kind: str, connection: Connection | None, location: str, query: str, direction: str
) -> str:
    """Check an external asset before a job is created; return the cleaned location/query."""
    if connection is None:
        raise ValidationError(f"Choose a {kind.upper()} connection for this asset.")
    if connection.kind != kind:
        raise ValidationError(
            f"Connection {connection.name!r} is a {connection.get_kind_display()} connection, "
            f"not {kind.upper()}."
        )
    return _module(kind).validate(
        connection=connection, location=location, query=query, direction=direction
    )


def connection_test(connection: Connection) -> str:
    return _module(connection.kind).connection_test(connection)
