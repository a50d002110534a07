"""A job's work dir. The model process may write only under work/ (its current directory)
and read only its inputs besides (jobs/runner/sandbox.py):

<JOB_WORK_DIR>/<job uuid>-<attempt>/     readable by the worker's user only
    spec.json  job.log                   the supervisor's files (the log is the child's stderr)
    inputs/                              read-only to the model: uploads (hard links, or
                                         copies), pasted data, fetched S3/HDFS/SQL data
    work/                                read-write to the model
        iris_model.py, model.pickle, ... the snapshot's source and attachments, by name
        .moc/staging/  .moc/tmp/         staged output and rejects; TMPDIR of the child
                                         (attachment names cannot start with a dot)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files.storage import Storage

from jobs.assets import Stop, input_source, output_target
from jobs.models import Job, JobAsset, JobStatus, Runtime
from jobs.runner.errors import JobError
from jobs.runner.sandbox import SandboxPolicy
from jobs.runner.spec import InputFile, JobSpec
from jobs.worker.envs import REQUIREMENTS_NAME, Environment, environment_prepare
from jobs.worker.spark import (
    SPARK_THREADS,
    SparkData,
    is_spark,
    spark_engine,
    spark_read_only,
)
from jobs.worker.sparkdata import input_plan

_COPY_BUFFER = 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

# ModelOp's names for the job types, as its monitors expect in the init parameter.
_MODELOP_JOB_TYPES = {
    "scoring": "MODEL_BATCH_JOB",
    "metrics": "MODEL_BATCH_TEST_JOB",
    "training": "MODEL_BATCH_TRAINING_JOB",
}


@dataclass
class WorkDir:
    base: Path

    @property
    def root(self) -> Path:
        """The model's current directory, the only place it may write."""
        return self.base / "work"

    @property
    def own(self) -> Path:
        return self.root / ".moc"

    @property
    def inputs(self) -> Path:
        return self.base / "inputs"

    @property
    def spec_path(self) -> Path:
        return self.base / "spec.json"

    @property
    def log_path(self) -> Path:
        return self.base / "job.log"

    @property
    def tmp(self) -> Path:
        return self.own / "tmp"

    @property
    def staging(self) -> Path:
        return self.own / "staging"

    @property
    def rejects_path(self) -> Path:
        return self.staging / "rejects.jsonl"

    @classmethod
    def for_job(cls, job: Job) -> WorkDir:
        return cls(Path(settings.JOB_WORK_DIR) / f"{job.uuid}-{job.attempts}")

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)  # never follows a link the model made


_ATTEMPT_DIR = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-(\d+)$")


def workdir_sweep() -> int:
    """Remove the work dirs (each with a copy of its inputs) of attempts that are over, whose
    worker could not: it was killed, or its job was taken back, cancelled or ended meanwhile.
    A dir is kept while its job is RUNNING that very attempt. Safe beside other workers on the
    machine, or on a JOB_WORK_DIR shared between machines: a dir is made only after its
    attempt's claim, and the folder is listed before the jobs are read."""
    root = Path(settings.JOB_WORK_DIR)
    try:
        entries = [e for e in os.scandir(root) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return 0
    attempts = {}
    for entry in entries:
        if found := _ATTEMPT_DIR.match(entry.name):
            attempts[entry.name] = (uuid.UUID(found[1]), int(found[2]))
    if not attempts:
        return 0
    running = set(
        Job.objects.filter(
            uuid__in={job for job, _ in attempts.values()}, status=JobStatus.RUNNING
        ).values_list("uuid", "attempts")
    )
    removed = 0
    for name, attempt in attempts.items():
        if attempt not in running:
            WorkDir(root / name).remove()
            removed += 1
    return removed


def staged_file(path: str | Path, *, root: Path, what: str) -> Path | None:
    """PATH, a file the model process wrote, if it is a plain file of the work dir: not a link
    the model made (symbolic or hard), not a folder, nothing outside ROOT. None when it does
    not exist; JobError when it is not such a file. Called when every process of the job has
    ended, so nothing can change it after the check."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if (
        stat.S_ISLNK(info.st_mode)
        or not stat.S_ISREG(info.st_mode)
        or info.st_nlink != 1
        or not _inside(path, root)
    ):
        raise JobError(f"{what} is not a plain file the model wrote (a link or a folder)")
    return path


def _inside(path: Path, root: Path) -> bool:
    """Whether PATH is under ROOT as named: no link on the way leads elsewhere."""
    real = Path(os.path.realpath(path))
    return real.is_relative_to(Path(os.path.realpath(root))) and real == Path(os.path.abspath(path))


def staged_parts(folder: str | Path, *, root: Path, what: str) -> list[Path] | None:
    """The part files of FOLDER, a Spark output folder the model process left, each a plain
    file (staged_file), in name order; None when there is no such folder. JobError when it is
    a link or not a folder, or when Spark did not commit it (no _SUCCESS)."""
    folder = Path(folder)
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(info.st_mode) or not _inside(folder, root):
        raise JobError(f"{what} is not a folder the model process wrote (a link or a file)")
    if staged_file(folder / "_SUCCESS", root=root, what=what) is None:
        raise JobError(f"{what} was not committed by Spark (no _SUCCESS in its folder)")
    parts = []
    for entry in sorted(os.listdir(folder)):
        if entry.startswith("part-"):
            parts.append(staged_file(folder / entry, root=root, what=f"{what} ({entry})"))
    return parts


def _safe_name(name: str, fallback: str) -> str:
    cleaned = _UNSAFE.sub("_", Path(name).name).strip("._")
    return cleaned or fallback


def _copy_from_storage(storage: Storage, name: str, dest: Path) -> None:
    with storage.open(name, "rb") as src, open(dest, "wb") as dst:
        shutil.copyfileobj(src, dst, _COPY_BUFFER)


def _local_path(storage: Storage, name: str) -> str | None:
    try:
        return storage.path(name)
    except NotImplementedError:  # remote storage (S3): the file must be copied
        return None


def _materialise_input(asset: JobAsset, inputs: Path) -> Path:
    dest = inputs / f"{asset.position}-{_safe_name(asset.name, f'input.{asset.format}')}"
    if asset.kind == JobAsset.Kind.EMBEDDED:
        dest.write_text(asset.data, encoding="utf-8")
    elif asset.kind in (JobAsset.Kind.UPLOAD, JobAsset.Kind.FILE):
        if not asset.file.name:
            raise JobError(f"input '{asset.name}' has no file")
        storage = asset.file.storage
        local = _local_path(storage, asset.file.name)
        if local is not None:
            if not os.path.exists(local):
                raise JobError(f"input '{asset.name}': the uploaded file is missing from storage")
            _link_or_copy(local, dest)
        else:
            try:
                _copy_from_storage(storage, asset.file.name, dest)
            except FileNotFoundError:
                raise JobError(
                    f"input '{asset.name}': the uploaded file is missing from storage"
                ) from None
    else:
        raise JobError(f"input '{asset.name}': inputs of kind {asset.kind!r} are not supported")
    return dest


def _link_or_copy(source: str, dest: Path) -> None:
    """A hard link where the upload lies on the same file system (instant, and unlike a
    symbolic link it names no folder of the server's), else a copy. The model reads it
    through inputs/, which its sandbox lets it read and never write."""
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)


_MODELOP_FORMATS = {"jsonl": "JSON", "json": "JSON", "csv": "CSV", "parquet": "PARQUET"}


def _schema_definition(workdir: Path | None, name: str) -> list[dict]:
    """[{"schemaDefinition": <the .avsc as JSON>}] as ModelOp's model metadata holds it."""
    if not name or workdir is None:
        return []
    try:
        return [{"schemaDefinition": json.loads((workdir / name).read_text()), "name": name}]
    except (OSError, ValueError):
        return []


def _asset_description(asset: JobAsset, position: int, *, job_type: str, inputs: int) -> dict:
    """One of ModelOp's inputData/outputData entries, and our own keys beside them."""
    url = asset.location if asset.is_external and asset.kind != JobAsset.Kind.SQL else None
    role = asset.role or _default_role(asset, position, job_type, inputs)
    return {
        "name": asset.name,
        "filename": PurePosixPath(asset.name).name if asset.name else "",
        "assetType": "EXTERNAL_FILE" if url else "EMBEDDED" if asset.kind == "embedded" else "FILE",
        "assetRole": role,
        "fileFormat": _MODELOP_FORMATS.get(asset.format, (asset.format or "").upper()),
        "fileUrl": url,
        # Ours, kept for models written against the earlier description.
        "format": asset.format,
        "kind": asset.kind,
    }


def _default_role(asset: JobAsset, position: int, job_type: str, inputs: int) -> str:
    if asset.direction == JobAsset.Direction.OUTPUT:
        return "OUTPUT_DATA"
    if job_type == "training":
        return "TRAINING_DATA"
    if job_type == "metrics" and inputs > 1:
        return "BASELINE_DATA" if position == 0 else "SAMPLE_DATA"
    return "SAMPLE_DATA" if job_type == "metrics" else "INPUT_DATA"


def _job_description(
    job: Job, inputs: list[JobAsset], output: JobAsset, workdir: Path | None = None
) -> dict:
    """The job as ModelOp's job JSON (what init(job) reads as json.loads(job["rawJson"])): its
    type, parameters, input and output data with their roles, and the model's schemas
    (referenceModel.storedModel.modelMetaData.inputSchema[0].schemaDefinition) with their
    extended fields; plus the keys of our earlier description."""
    snapshot = job.snapshot
    job_type = _MODELOP_JOB_TYPES.get(job.job_type, job.job_type)
    input_schema = _schema_definition(workdir, job.input_schema or snapshot.smart_tags.get(
        "input_schema", ""))  # fmt: skip
    output_schema = _schema_definition(workdir, job.output_schema or snapshot.smart_tags.get(
        "output_schema", ""))  # fmt: skip
    return {
        "id": str(job.uuid),
        "jobType": job_type,
        "jobStatus": "RUNNING",
        "jobParameters": job.params,
        "inputData": [
            _asset_description(a, i, job_type=job.job_type, inputs=len(inputs))
            for i, a in enumerate(inputs)
        ],
        "outputData": [_asset_description(output, 0, job_type=job.job_type, inputs=len(inputs))],
        "referenceModel": {
            "id": str(snapshot.uuid),
            "storedModel": {
                "id": str(snapshot.model.uuid),
                "modelMetaData": {
                    "name": snapshot.model.name,
                    "version": snapshot.version,
                    "inputSchema": input_schema,
                    "outputSchema": output_schema,
                },
            },
        },
        "model": {
            "name": snapshot.model.name,
            "version": snapshot.version,
            "snapshotId": str(snapshot.uuid),
        },
        "inputSchema": job.input_schema,
        "outputSchema": job.output_schema,
        "createdBy": job.created_by.get_username(),
    }


# Our ModelOp-compatible helper packages, which model code imports (import modelop.monitors...),
# and the evaluator they compute with; the rest of the checkout stays closed.
MONITOR_PACKAGES = [
    str(settings.BASE_DIR / "modelop"),
    str(settings.BASE_DIR / "modelop_sdk"),
    str(settings.BASE_DIR / "jobs" / "runner" / "evaluation"),
]
RUNNER_PACKAGE = settings.BASE_DIR / "jobs" / "runner"


def sandbox_policy(
    *, job: Job, workdir: WorkDir, environment: Environment | None = None
) -> SandboxPolicy:
    """What this job's model process may reach: its work dir, its inputs, its environment's
    packages, the network only as its runtime allows; limits backing the runtime's."""
    runtime = job.runtime
    # A model in an environment imports the runner's modules after its sandbox is closed, so
    # that no package of the environment runs outside it (jobs/runner/child.py).
    in_env = [str(environment.path), str(RUNNER_PACKAGE)] if environment else []
    memory = runtime.memory_limit_mb if runtime else None
    time_limit = runtime.time_limit_seconds if runtime else None
    # A Spark driver (jobs/spark) starts a JVM and talks to it, and to the cluster, over TCP
    # on ports it picks: network on, any port; the JVM's files readable; threads for it.
    spark = is_spark(runtime)
    return SandboxPolicy(
        mode=settings.MODEL_SANDBOX,
        read_write=[str(workdir.root)],
        read_only=[
            str(workdir.inputs),
            *MONITOR_PACKAGES,
            *in_env,
            *settings.MODEL_SANDBOX_READ_ONLY,
            *(spark_read_only() if spark else []),
        ],
        inputs=[str(workdir.inputs)],
        shared_read_write=list(settings.MODEL_SANDBOX_READ_WRITE),
        network=bool(runtime and (runtime.allow_network or spark)),
        network_ports=list(runtime.network_port_list()) if runtime and not spark else [],
        user=settings.MODEL_SANDBOX_USER,
        # Virtual memory is far above resident memory for numpy and Arrow: this stops a
        # runaway allocation at once; the supervisor's resident-memory check is the limit.
        address_space=(
            (memory * 2 + 4096) * 1024 * 1024 if memory else settings.MODEL_ADDRESS_SPACE_BYTES
        ),
        cpu_seconds=time_limit * 2 + 60 if time_limit else None,
        max_processes=settings.MODEL_MAX_PROCESSES,
        threads=SPARK_THREADS if spark else 0,
    )


def model_process_start(*, workdir: WorkDir, runtime: Runtime | None):
    """The sandboxed model process for the spec in WORKDIR, and the lease its keeper watches
    (started): what a job and a dry run both run."""
    from jobs.worker.lease import Lease
    from jobs.worker.process import ChildProcess, child_environment
    from jobs.worker.spark import spark_environment

    lease = Lease(workdir.base)  # outside the model's reach; its keeper watches it
    child = ChildProcess(
        workdir=workdir.root,
        spec_path=workdir.spec_path,
        log_path=workdir.log_path,
        env={
            **child_environment(
                pythonpath=str(settings.BASE_DIR),
                tmpdir=str(workdir.tmp),
                user=settings.MODEL_SANDBOX_USER if os.geteuid() == 0 else "",
            ),
            **lease.env,
            **(spark_environment() if is_spark(runtime) else {}),
        },
    )
    lease.start()
    return lease, child


def workdir_prepare(*, job: Job, workdir: WorkDir, stop: Stop | None = None) -> JobSpec:
    """Fill a fresh WORKDIR with everything the child needs, and its spec.json. External
    inputs stop fetching once STOP is set."""
    workdir.remove()  # a leftover of a crashed attempt with the same number
    workdir.base.mkdir(parents=True, mode=0o700)
    for folder in (workdir.inputs, workdir.staging, workdir.tmp):
        folder.mkdir(parents=True)
    if job.job_type == "training":
        (workdir.root / "outputDir").mkdir()  # where ModelOp train functions write artifacts

    snapshot = job.snapshot
    source = workdir.root / snapshot.source_name
    source.write_text(snapshot.source, encoding="utf-8")
    for attachment in snapshot.attachments.all():
        if Path(attachment.name).name != attachment.name:  # names are checked on upload too
            raise JobError(f"attachment {attachment.name!r} is not a plain file name")
        try:
            _copy_from_storage(
                attachment.file.storage, attachment.file.name, workdir.root / attachment.name
            )
        except FileNotFoundError:
            raise JobError(f"attachment '{attachment.name}' is missing from storage") from None
    environment = None
    if (requirements := workdir.root / REQUIREMENTS_NAME).is_file():
        environment = environment_prepare(
            requirements=requirements.read_text(encoding="utf-8", errors="replace"),
            log_path=workdir.log_path,
            stopped=(stop.is_set if stop is not None else lambda: False),
        )

    inputs = list(job.input_assets())
    output = job.output_asset()
    if output is None:
        raise JobError("the job has no output asset")
    input_files: list[InputFile] = []
    spark_data = SparkData() if is_spark(job.runtime) else None
    for asset in inputs:
        if spark_data is not None and asset.is_external:
            plan = input_plan(asset=asset, runtime=job.runtime, pyspark=spark_data.pyspark(job))
            spark_data.add(asset, plan)
            if plan.files is not None:  # Spark reads it itself: nothing to copy here
                input_files.extend(plan.files)
                continue
        if asset.is_external:
            # The worker streams it in; the model's process never sees the credentials.
            dest = workdir.inputs / str(asset.position)
            dest.mkdir()
            for fetched in input_source(asset).fetch(dest=dest, stop=stop):
                input_files.append(
                    InputFile(name=fetched.name, path=str(fetched.path), format=fetched.format)
                )
        else:
            path = _materialise_input(asset, workdir.inputs)
            input_files.append(InputFile(name=asset.name, path=str(path), format=asset.format))
    output_format = output.format
    if output.is_external:
        output_format = output_target(output).staged_format or output.format
    output_path = workdir.staging / _safe_name(output.name, f"output.{output_format}")
    if output_path == workdir.rejects_path:
        output_path = workdir.staging / f"output-{output_path.name}"
    spec = JobSpec(
        source=snapshot.source_name,
        smart_tags=snapshot.smart_tags,
        job_type=job.job_type,
        inputs=input_files,
        output_name=output.name,
        output_path=str(output_path),
        output_format=output_format,
        rejects_path=str(workdir.rejects_path),
        input_schema=job.input_schema,
        output_schema=job.output_schema,
        check_input_schema=job.check_input_schema,
        check_output_schema=job.check_output_schema,
        chunk_rows=settings.JOB_CHUNK_ROWS,
        chunk_bytes=settings.JOB_CHUNK_BYTES,
        stop_on_bad_records=job.stop_on_bad_records,
        max_rejects=job.max_rejects,
        max_rejects_percent=job.max_rejects_percent,
        job=_job_description(job, inputs, output, workdir.root),
        sandbox=sandbox_policy(job=job, workdir=workdir, environment=environment).to_dict(),
        environment=str(environment.site_packages) if environment else "",
        engine=(
            spark_engine(job=job, base=workdir.base, work=workdir.root, data=spark_data)
            if spark_data is not None
            else {}
        ),
    )
    spec.write(workdir.spec_path)
    return spec
