"""What the supervisor tells the child: the contents of spec.json. No Django here."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

SPEC_VERSION = 2
# A training job's artifacts: here in the work dir, as ModelOp models expect. Here, not in
# training.py, so that the worker reads them without importing pandas.
OUTPUT_DIR = "outputDir"


@dataclass
class InputFile:
    name: str  # the asset's name, as people know it (used in error messages)
    path: str
    format: str  # one of jobs.formats.FORMATS ("jdbc" for a query Spark runs itself)
    # On a Spark runtime, where Spark reads it itself (hdfs://, webhdfs://, s3a://, a JDBC
    # URL); path is then "". OPTIONS: the reader's (JDBC: query, user; never a password).
    url: str = ""
    options: dict = field(default_factory=dict)


@dataclass
class JobSpec:
    source: str  # the model's source file, relative to the work dir
    smart_tags: dict
    job_type: str
    inputs: list[InputFile]
    output_name: str
    output_path: str
    output_format: str
    rejects_path: str
    input_schema: str = ""  # attachment file names (.avsc) in the work dir
    output_schema: str = ""
    check_input_schema: bool = False
    check_output_schema: bool = False
    chunk_rows: int = 10_000  # records per chunk in per-record mode
    # Input bytes per DataFrame (batch and recordsets modes, metrics, training); 0: chunk_rows.
    chunk_bytes: int = 0
    # Record-level semantics (jobs.runner.rejects): stop at the first reject, or past a limit.
    stop_on_bad_records: bool = False
    max_rejects: int | None = None
    max_rejects_percent: float | None = None
    # Handed to a one-argument init function, ModelOp style.
    job: dict = field(default_factory=dict)
    # What the model process may reach (jobs.runner.sandbox.SandboxPolicy as a dict).
    sandbox: dict = field(default_factory=dict)
    # The site-packages of the model's environment (jobs/worker/envs.py), put first on the
    # model process's path once its sandbox is closed; "" for none.
    environment: str = ""
    # A Spark runtime's job (jobs/spark): {"kind": "spark", "master", "conf", "app_name"};
    # empty for the model process of every other runtime. Secrets are never here.
    engine: dict = field(default_factory=dict)
    version: int = SPEC_VERSION

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def read(cls, path: Path) -> JobSpec:
        data = json.loads(Path(path).read_text())
        if data.get("version") != SPEC_VERSION:
            raise ValueError(f"spec version {data.get('version')!r} is not {SPEC_VERSION}")
        data["inputs"] = [InputFile(**item) for item in data["inputs"]]
        return cls(**data)


def manifest_path(spec: JobSpec) -> Path:
    """Where a training child leaves what it trained, next to the staged output."""
    return Path(spec.rejects_path).parent / "training.json"
