"""Model environments: a snapshot with a requirements.txt attachment runs in packages of its
own, built once per machine with uv and reused until the requirements change.

<MODEL_ENV_DIR>/                        (default DATA_DIR/envs)
    <key>.lock                           flock: one build per machine, however many workers
    <key>/requirements.txt               the requirements, normalised (what the key hashes)
    <key>/build.log                      uv's output (kept when the build failed)
    <key>/site-packages/                 the packages: first on the model process's path,
                                         the server's site-packages after them
    <key>/ready                          written last: when it was built, in how long
    <key>/last_used                      touched by every job that runs in it

Only wheels are installed (uv --no-build): building a source distribution would run code of
the model author's choosing in the worker, outside any sandbox. Options (-r, -e,
--index-url) and URL or path requirements are refused for the same reason. The model
process enters the environment only after its sandbox is closed (jobs/runner/child.py).
No Django models here: an environment belongs to its machine; listing and removal go
through `manage.py model_envs`.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import platform
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from jobs.runner.errors import JobError

REQUIREMENTS_NAME = "requirements.txt"
PREPARING = "preparing the model's environment"
_KEY_VERSION = "2"  # changes when what a key means changes (the layout, the uv options)
_LOCK_POLL_SECONDS = 0.2
_KEY = re.compile(r"^[0-9a-f]{64}$")
# Passed to uv: how to reach an index (proxies, certificates, uv's own settings), nothing of
# the worker's secrets.
_UV_ENV = ("PATH", "HOME", "LANG", "TMPDIR", "XDG_CACHE_HOME", "SSL_CERT_FILE", "SSL_CERT_DIR")
_UV_ENV_PREFIXES = ("UV_", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy",
                    "https_proxy", "no_proxy", "all_proxy")  # fmt: skip


@dataclass(frozen=True)
class Environment:
    key: str

    @property
    def path(self) -> Path:
        return Path(settings.MODEL_ENV_DIR) / self.key

    @property
    def site_packages(self) -> Path:
        return self.path / "site-packages"

    @property
    def requirements_path(self) -> Path:
        return self.path / REQUIREMENTS_NAME

    @property
    def log_path(self) -> Path:
        return self.path / "build.log"

    @property
    def ready_path(self) -> Path:
        return self.path / "ready"

    @property
    def lock_path(self) -> Path:
        return Path(settings.MODEL_ENV_DIR) / f"{self.key}.lock"

    def is_ready(self) -> bool:
        return self.ready_path.is_file() and self.site_packages.is_dir()

    def built(self) -> dict:
        """{"built_at", "seconds"} of a built environment, else {}."""
        try:
            return json.loads(self.ready_path.read_text())
        except (OSError, ValueError):
            return {}

    def info(self) -> dict:
        """What `model_envs list` shows."""
        ready = self.built()
        used = self.path / "last_used"
        return {
            "key": self.key,
            "ready": self.is_ready(),
            "built_at": ready.get("built_at"),
            "build_seconds": ready.get("seconds"),
            "last_used_at": (
                _iso(used.stat().st_mtime) if used.exists() else ready.get("built_at")
            ),
            "size": _size(self.path),
            "requirements": _read(self.requirements_path).splitlines(),
        }


def requirements_normalise(text: str) -> list[str]:
    """The requirements of TEXT (a requirements.txt), one canonical line each, sorted; a
    JobError naming the first line that is refused: a pip option, a URL or a path, or not a
    requirement at all."""
    lines: set[str] = set()
    for number, raw in enumerate(text.replace("\\\n", "").splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        if line.startswith("-"):
            raise JobError(
                f"requirements.txt line {number}: {line!r}: options are not accepted (only "
                "package requirements such as pandas==1.5.3)"
            )
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            raise JobError(f"requirements.txt line {number}: {line!r} is not a requirement "
                           f"({exc})") from None  # fmt: skip
        if requirement.url:
            raise JobError(
                f"requirements.txt line {number}: {line!r}: URL and path requirements are "
                "not accepted, only packages from the index"
            )
        lines.add(str(requirement))
    return sorted(lines)


def environment_key(lines: list[str]) -> str:
    """The SHA-256 of the normalised requirements, of this interpreter and machine kind."""
    head = f"{_KEY_VERSION}\n{sys.implementation.cache_tag}\n{platform.machine()}\n"
    return hashlib.sha256((head + "\n".join(lines) + "\n").encode()).hexdigest()


def environment_prepare(
    *, requirements: str, log_path: Path, stopped: Callable[[], bool] = lambda: False
) -> Environment:
    """The environment for REQUIREMENTS (a requirements.txt's text), built now unless this
    machine has it; what happens goes to the job log at LOG_PATH. JobError when it cannot be
    built (naming the requirement), takes longer than ENV_BUILD_TIMEOUT_SECONDS, or STOPPED
    says so (the job was cancelled meanwhile)."""
    lines = requirements_normalise(requirements)
    if not lines:
        raise JobError("requirements.txt names no requirement")
    env = Environment(environment_key(lines))
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"{PREPARING} ({len(lines)} requirement{'s' if len(lines) > 1 else ''}, "
                  f"{env.key[:12]})\n")  # fmt: skip
        log.flush()
        if not env.is_ready():
            with _locked(env, log, stopped):
                if not env.is_ready():  # another worker may have built it meanwhile
                    _build(env, lines, log, stopped)
                    log.write(f"the model's environment is built in {_built_seconds(env)} s\n")
                    env_touch(env)
                    return env
        log.write(f"the model's environment is ready (built {env.built().get('built_at')})\n")
    env_touch(env)
    return env


def env_touch(env: Environment) -> None:
    (env.path / "last_used").touch()


def environment_list() -> list[Environment]:
    root = Path(settings.MODEL_ENV_DIR)
    if not root.is_dir():
        return []
    return [Environment(e.name) for e in sorted(os.scandir(root), key=lambda e: e.name)
            if e.is_dir(follow_symlinks=False) and _KEY.match(e.name)]  # fmt: skip


def environment_remove(key: str) -> Environment:
    """Remove the environment whose key is KEY or starts with it (an unambiguous prefix, as
    `model_envs list` shows). A job that runs in it meanwhile may fail; the next job of its
    requirements builds it again. ValueError when no single one matches, or it is being
    built."""
    matches = [env for env in environment_list() if env.key.startswith(key.lower())]
    if len(matches) != 1 or not key:
        raise ValueError(f"{'no' if not matches else 'more than one'} environment {key!r}")
    env = matches[0]
    with open(env.lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"environment {env.key} is being built; try again later") from None
        gone = env.path.with_name(f".removing-{env.key}-{os.getpid()}")
        os.replace(env.path, gone)  # at once: no job starts in half an environment
        shutil.rmtree(gone, ignore_errors=True)
        env.lock_path.unlink(missing_ok=True)
    return env


# --- building -------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(env: Environment, log, stopped: Callable[[], bool]) -> Iterator[None]:
    """Hold the environment's lock; a second worker on the machine waits for the first's
    build (then finds it ready) instead of building it again."""
    env.lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(env.lock_path, "a") as lock:
        said = False
        deadline = time.monotonic() + settings.ENV_BUILD_TIMEOUT_SECONDS * 2
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not said:
                    log.write("another job on this machine is building this environment; "
                              "waiting for it\n")  # fmt: skip
                    log.flush()
                    said = True
                if stopped():
                    raise JobError("stopped while waiting for the model's environment") from None
                if time.monotonic() > deadline:
                    raise JobError("the model's environment is being built by another job for "
                                   "too long; try again later") from None  # fmt: skip
                time.sleep(_LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def uv_binary() -> str:
    """The uv the project installs (the `uv` package of pyproject.toml brings the binary)."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise JobError(
                "uv is not installed on this worker; model environments need it"
            ) from None
        return found


def _build(env: Environment, lines: list[str], log, stopped: Callable[[], bool]) -> None:
    started = time.monotonic()
    shutil.rmtree(env.path, ignore_errors=True)  # what a failed or killed build left
    env.path.mkdir(parents=True)
    env.requirements_path.write_text("\n".join(lines) + "\n")
    building = env.path / "site-packages.building"
    command = [
        uv_binary(), "pip", "install", "--no-build", "--no-config", "--color", "never",
        "--compile-bytecode",  # the model process writes no .pyc: without them every import
        # of pandas or scikit-learn would compile it again, seconds a job
        "--python", sys.executable, "--target", str(building), "-r", str(env.requirements_path),
    ]  # fmt: skip
    output = _run_logged(command, cwd=env.path, logs=(log, env.log_path), stopped=stopped)
    returncode, text = output
    if returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        raise JobError(f"the model's environment could not be built: {_failure(text, lines)}")
    os.replace(building, env.site_packages)
    seconds = round(time.monotonic() - started, 1)
    env.ready_path.write_text(json.dumps({"built_at": _iso(time.time()), "seconds": seconds}))


def _run_logged(command, *, cwd: Path, logs, stopped) -> tuple[int, str]:
    """Run COMMAND, its output into the job log and the build log as it comes; killed past
    ENV_BUILD_TIMEOUT_SECONDS or when STOPPED says so (JobError)."""
    job_log, build_log_path = logs
    env = {k: v for k, v in os.environ.items()
           if k in _UV_ENV or k.startswith(_UV_ENV_PREFIXES)}  # fmt: skip
    env["NO_COLOR"] = "1"
    limit = settings.ENV_BUILD_TIMEOUT_SECONDS
    deadline = time.monotonic() + limit
    chunks: list[bytes] = []
    with open(build_log_path, "ab") as build_log:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        assert process.stdout is not None
        fd = process.stdout.fileno()
        try:
            while True:
                ready, _, _ = select.select([fd], [], [], _LOCK_POLL_SECONDS)
                if ready:
                    data = os.read(fd, 65536)
                    if not data:
                        break
                    chunks.append(data)
                    build_log.write(data)
                    build_log.flush()
                    job_log.write(data.decode("utf-8", "replace"))
                    job_log.flush()
                if stopped():
                    raise JobError("stopped while the model's environment was being built")
                if time.monotonic() > deadline:
                    raise JobError(
                        f"the model's environment took longer than {limit:g} s to build "
                        "(ENV_BUILD_TIMEOUT_SECONDS)"
                    )
            returncode = process.wait()
        finally:
            if process.poll() is None:
                os.killpg(process.pid, 9)
                process.wait()
            process.stdout.close()
    return returncode, b"".join(chunks).decode("utf-8", "replace")


_BECAUSE = re.compile(r"Because (?:there (?:is|are) no versions? of |only )?([A-Za-z0-9][\w.-]*)")
_PIP_NO_VERSION = re.compile(r"satisfies the requirement ([A-Za-z0-9][\w.-]*)")


def _failure(output: str, lines: list[str]) -> str:
    """Which requirement could not be installed, and why, from uv's (or pip's) words."""
    found = _BECAUSE.search(output) or _PIP_NO_VERSION.search(output)
    if found:
        name = canonicalize_name(found[1])
        line = next((x for x in lines if canonicalize_name(Requirement(x).name) == name), found[1])
        cause = output[found.start() :].splitlines()[0]
        why = re.split(r",? and (?:you require|because)|, we can conclude", cause)[0]
        why = why.removeprefix("Because ").strip()
        return f"the requirement '{line}' could not be installed ({why})"
    errors = [x.strip() for x in output.splitlines() if x.strip().startswith("error:")]
    return errors[-1].removeprefix("error:").strip() if errors else "uv failed (see the log)"


def _built_seconds(env: Environment) -> str:
    return f"{env.built().get('seconds', 0):g}"


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC).isoformat(timespec="seconds")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _size(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total
