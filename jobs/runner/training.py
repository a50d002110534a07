"""Training jobs, the ModelOp way: init, then train(DataFrame) once with all the training data
(every input asset, concatenated), which writes its artifacts into outputDir/ in the work dir.

The child only trains and checks what was written; it leaves a manifest (the artifact names
and a fingerprint of the training data) in the staging folder, and the supervisor makes the
new snapshot from it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from jobs.runner.errors import JobError
from jobs.runner.events import Counts, Events
from jobs.runner.modelcode import ModelCode, describe, log_traceback
from jobs.runner.readers import reader_open
from jobs.runner.rejects import RejectLimits, Rejects
from jobs.runner.schemas import SchemaCheck
from jobs.runner.scoring import frames_checked
from jobs.runner.spec import OUTPUT_DIR, JobSpec, manifest_path

_HASH_CHUNK = 1024 * 1024


def fingerprint(spec: JobSpec, *, rows: int) -> dict:
    """Size and SHA-256 of the input files (streamed, in input order), rows read, names."""
    digest = hashlib.sha256()
    size = 0
    for item in spec.inputs:
        with open(item.path, "rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    return {
        "size": size,
        "sha256": digest.hexdigest(),
        "rows": rows,
        "inputs": [item.name for item in spec.inputs],
    }


def artifact_names(folder: Path, *, train_name: str) -> list[str]:
    """The plain files train wrote into FOLDER, or JobError naming what cannot be attached."""
    names = []
    for entry in sorted(folder.iterdir()):
        where = f"{OUTPUT_DIR}/{entry.name}"
        if entry.is_dir():
            raise JobError(
                f"the train function '{train_name}' wrote a folder '{where}'; artifacts must be "
                f"plain files directly in {OUTPUT_DIR}/"
            )
        if entry.name.startswith("."):
            raise JobError(
                f"the train function '{train_name}' wrote '{where}'; artifact names cannot start "
                f"with a dot"
            )
        if not entry.is_file():
            raise JobError(f"the train function '{train_name}' wrote '{where}', not a plain file")
        names.append(entry.name)
    if not names:
        raise JobError(f"the train function '{train_name}' wrote no artifacts into {OUTPUT_DIR}/")
    return names


class TrainingRun:
    def __init__(self, *, spec: JobSpec, model: ModelCode, events: Events) -> None:
        self.spec = spec
        self.model = model
        self.events = events
        train = model.function("train")
        if train is None:
            raise JobError("the model has no train function (tag '# modelop.train')")
        self.train = train
        self.counts = Counts(bytes_total=sum(os.path.getsize(i.path) for i in spec.inputs))
        self.folder = Path(OUTPUT_DIR)
        # With schema checking on, a record that fails is left out of the training data.
        self.input_check = (
            SchemaCheck(path=spec.input_schema, label="input") if spec.check_input_schema else None
        )
        self.rejects = Rejects(spec.rejects_path, self.counts, RejectLimits.of(spec))

    def run(self) -> Counts:
        try:
            frame = self._read()
        finally:
            self.rejects.close()
        if not len(frame):
            if self.counts.records_rejected:
                raise JobError(
                    f"all {self.counts.records_rejected} input records were rejected (they "
                    f"cannot be read or fail the input schema): there is nothing to train on"
                )
            raise JobError("there is no training data: the inputs hold no records to train on")
        self.folder.mkdir(exist_ok=True)
        name = self.model.name("train")
        try:
            result = self.train(frame)
            if isinstance(result, Iterator):  # a train that yields runs only when consumed
                for _ in result:
                    pass
        except (Exception, SystemExit) as exc:
            log_traceback(exc)
            raise JobError(f"train function '{name}' raised {describe(exc)}") from exc
        names = artifact_names(self.folder, train_name=name)
        fingerprinted = fingerprint(self.spec, rows=self.counts.records_read)
        manifest = {"artifacts": names, "training_data": fingerprinted}
        manifest_path(self.spec).write_text(json.dumps(manifest))
        self.events.progress(self.counts, force=True)
        return self.counts

    def _read(self) -> pd.DataFrame:
        frames: list[pd.DataFrame] = []
        for item in self.spec.inputs:
            frames.extend(
                frames_checked(
                    reader_open(item), chunk_rows=self.spec.chunk_rows, check=self.input_check,
                    chunk_bytes=self.spec.chunk_bytes,
                    rejects=self.rejects, counts=self.counts, events=self.events,
                    bytes_before=self.counts.bytes_read,
                )
            )  # fmt: skip
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
