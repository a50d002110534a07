"""The model process: ``python -m jobs.runner.child spec.json``, run in the job's work dir.

Model code runs here and only here, never in the worker or the web process. No Django: the
child gets no database, broker or secret, only its work dir, its inputs and the spec.

Two processes:
- the keeper (this process as the supervisor starts it) is a child subreaper: whatever the
  model starts, however it detaches (setsid, double fork), ends up as the keeper's child when
  its parent dies. When the model process ends, when the supervisor asks (SIGTERM), when
  the supervisor is gone or when it stops renewing the model's lease (jobs/worker/lease.py:
  the worker is paused), the keeper kills every descendant and only then exits. It runs no
  model code and is outside the sandbox, so the model can neither signal it nor trace it.
- the model process (forked by the keeper) sandboxes itself (sandbox.py), then imports and
  runs the model.

The real stdout is the event channel to the supervisor; everything else the process prints,
the model's print() and C libraries' output included, goes to stderr, which is the job log.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
import traceback

_SUPERVISOR_POLL_SECONDS = 0.5
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_PDEATHSIG = 1

# The supervisor's pid: the keeper ends everything when its parent is no longer that process.
SUPERVISOR_PID_ENV = "MOC_SUPERVISOR_PID"
# The model's lease (jobs/worker/lease.py): a file the supervisor keeps touching, and how long
# it may stay unchanged before the keeper ends the model.
LEASE_PATH_ENV = "MOC_LEASE_PATH"
LEASE_SECONDS_ENV = "MOC_LEASE_SECONDS"


def _take_event_channel() -> int:
    """Keep the real stdout for events and point fd 1 at the log, so print() cannot corrupt
    the channel. Done before anything else runs."""
    sys.stdout.flush()
    events_fd = os.dup(1)  # not inheritable: the model's own subprocesses do not get it
    os.dup2(2, 1)
    return events_fd


# --- the keeper -----------------------------------------------------------------------------


def _descendants() -> list[int]:
    """Every process below this one (children first found through /proc's parent links)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [], [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def _reap() -> list[tuple[int, int]]:
    """Collect every child that has ended: [(pid, wait status)]."""
    ended = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            return ended
        ended.append((pid, status))


def _end_all() -> None:
    """SIGKILL every descendant until none is left (one that forks meanwhile hands its
    children to this process, a subreaper, so the next round finds them)."""
    for _ in range(1000):
        _reap()
        pids = _descendants()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


class _Lease:
    """The supervisor's lease on the model, as the keeper watches it: expired once its file has
    not changed for its seconds (by this process's monotonic clock, so a change of the wall
    clock does not end a model)."""

    def __init__(self, path: str, seconds: float) -> None:
        self.path = path
        self.seconds = seconds
        self.check_every = min(0.5, seconds / 5)
        self._seen: int | None = None
        self._changed_at = time.monotonic()

    @classmethod
    def from_env(cls) -> _Lease | None:
        path, seconds = os.environ.get(LEASE_PATH_ENV), os.environ.get(LEASE_SECONDS_ENV)
        return cls(path, float(seconds)) if path and seconds else None

    def expired(self, now: float) -> bool:
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            mtime = None
        if mtime is not None and mtime != self._seen:
            self._seen, self._changed_at = mtime, now
        return now - self._changed_at > self.seconds

    def end(self) -> None:
        """Say so, in the job log and to the supervisor (lease.expired beside the lease)."""
        print(
            f"stopped: the worker did not renew the model's lease for {self.seconds:g} s "
            "(it was paused, or hung); its job may be run again elsewhere",
            file=sys.stderr,
        )
        try:
            os.replace(self.path, f"{self.path}.expired")
        except OSError:
            pass


_stop_asked = False


def _asked_to_stop(signum, frame) -> None:
    global _stop_asked
    _stop_asked = True


def _keep(model_pid: int) -> int:
    """Wait for the model process; then end whatever it left. Returns the exit status to
    report: the model's exit code, or minus the signal that killed it."""
    expected = os.environ.get(SUPERVISOR_PID_ENV)
    lease = _Lease.from_env()
    result: int | None = None
    next_look = next_lease = 0.0
    while result is None:
        for pid, status in _reap():
            if pid == model_pid:
                result = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        if result is not None:
            break
        if _stop_asked:
            result = -signal.SIGKILL
            break
        now = time.monotonic()
        if expected and now >= next_look:
            if str(os.getppid()) != expected:  # the worker died: nobody wants the output
                result = -signal.SIGKILL
                break
            next_look = now + _SUPERVISOR_POLL_SECONDS
        if lease is not None and now >= next_lease:
            if lease.expired(now):  # the worker is paused: its job may run elsewhere
                lease.end()
                result = -signal.SIGKILL
                break
            next_lease = now + lease.check_every
        time.sleep(0.02)
    _end_all()
    return result


def _exit_as(result: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    if result < 0:  # the supervisor reads a signal death as the model's
        if -result not in (signal.SIGKILL, signal.SIGSTOP):  # these two have no handler
            signal.signal(-result, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [-result])
        os.kill(os.getpid(), -result)
        time.sleep(1)
    os._exit(result if result >= 0 else 128 - result)


# --- the model process ----------------------------------------------------------------------


def _preload_spark() -> None:
    """The Spark driver's modules (jobs/spark), before the sandbox closes the checkout."""
    import jobs.runner.training  # noqa: F401
    import jobs.spark.driver  # noqa: F401
    import jobs.spark.metrics  # noqa: F401


def _preload(job_type: str) -> None:
    """Import every runner module this job needs before the sandbox closes the checkout."""
    import jobs.runner.errors  # noqa: F401
    import jobs.runner.events  # noqa: F401
    import jobs.runner.modelcode  # noqa: F401
    import jobs.runner.scoring  # noqa: F401
    import jobs.runner.smarttags  # noqa: F401
    import modelop  # noqa: F401  (cheap; its submodules load from the sandbox's read-only paths)
    import modelop_sdk  # noqa: F401

    if job_type == "metrics":
        import jobs.runner.metrics  # noqa: F401
    elif job_type == "training":
        import jobs.runner.training  # noqa: F401


def _environment_enter(site_packages: str) -> None:
    """The model's environment first on the path (after the work dir, where the model's own
    helper modules are), the checkout and the server's site-packages after it, so what the
    model pinned wins and the runner takes the rest from the server. Its processes get the
    same path. .pth files of the environment are not run."""
    sys.path.insert(1, site_packages)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [site_packages, *filter(None, [os.environ.get("PYTHONPATH")])]
    )


def model_main(argv: list[str], events_fd: int, keeper_pid: int) -> int:
    from jobs.runner.errors import JobError
    from jobs.runner.events import Events
    from jobs.runner.sandbox import SandboxError, SandboxPolicy, sandbox_apply, sandbox_describe
    from jobs.runner.spec import JobSpec

    events = Events(events_fd)
    try:
        if len(argv) != 2:
            raise JobError("usage: python -m jobs.runner.child spec.json")
        spec = JobSpec.read(argv[1])
        runner = RUNNERS.get(spec.job_type)
        if runner is None:
            raise JobError(f"{spec.job_type} jobs are not supported by this executor yet")
        if not spec.environment:
            _preload(spec.job_type)
        secrets: dict = {}
        if spec.engine.get("kind") == "spark":
            from jobs.spark.session import secrets_take

            _preload_spark()
            secrets = secrets_take(argv[1])  # read and deleted while the file is reachable
        try:
            applied = sandbox_apply(SandboxPolicy.from_dict(spec.sandbox))
        except (SandboxError, OSError) as exc:
            raise JobError(f"the model's sandbox could not be set up: {exc}") from None
        if spec.environment:
            # Only now: the environment's packages (pandas, numpy, ...) are of the model
            # author's choosing, so none of their code runs before the sandbox is closed.
            _environment_enter(spec.environment)
            _preload(spec.job_type)
        # Dies with the keeper (set after the sandbox: a change of user clears it).
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != keeper_pid:
            raise JobError("the keeper process ended before the model started")
        print(f"sandbox: {sandbox_describe(applied)}", file=sys.stderr)
        events.sandbox(applied)
        if spec.engine.get("kind") == "spark":
            return _run_spark(spec, events, secrets)
        return _run_model(spec, runner, events)
    except JobError as exc:
        print(f"job failed: {exc}", file=sys.stderr)
        events.error(str(exc))
        return 1


def _run_model(spec, runner, events) -> int:
    from jobs.runner.errors import JobError
    from jobs.runner.modelcode import ModelCode, describe
    from jobs.runner.smarttags import SmartTags

    try:
        model = ModelCode(source=spec.source, tags=SmartTags.from_dict(spec.smart_tags))
        model.load()
        if runner is _score:
            from jobs.runner.scoring import ScoringRun

            scoring = ScoringRun(spec=spec, model=model, events=events)
            scoring.prefetch()  # recordsets: the inputs are read while init runs
            model.init(spec.job)
            counts = scoring.run()
        else:
            model.init(spec.job)
            counts = runner(spec=spec, model=model, events=events)
    except JobError as exc:
        print(f"job failed: {exc}", file=sys.stderr)
        events.error(str(exc))
        return 1
    except Exception as exc:
        traceback.print_exc()
        events.error(f"internal error in the executor: {describe(exc)}")
        return 1
    events.done(counts)
    return 0


def _run_spark(spec, events, secrets) -> int:
    """The job as the driver of a Spark application (jobs/spark/driver.py)."""
    from jobs.runner.errors import JobError
    from jobs.runner.modelcode import describe
    from jobs.spark.driver import spark_run

    try:
        counts = spark_run(spec=spec, events=events, secrets=secrets)
    except JobError as exc:
        print(f"job failed: {exc}", file=sys.stderr)
        events.error(str(exc))
        return 1
    except Exception as exc:
        traceback.print_exc()
        events.error(f"internal error in the Spark driver: {describe(exc)}")
        return 1
    events.done(counts)
    return 0


def _score(*, spec, model, events):
    from jobs.runner.scoring import ScoringRun

    return ScoringRun(spec=spec, model=model, events=events).run()


def _train(*, spec, model, events):
    from jobs.runner.training import TrainingRun

    return TrainingRun(spec=spec, model=model, events=events).run()


def _metrics(*, spec, model, events):
    from jobs.runner.metrics import MetricsRun

    return MetricsRun(spec=spec, model=model, events=events).run()


# Job type → runner.
RUNNERS = {"scoring": _score, "metrics": _metrics, "training": _train}


def main(argv: list[str]) -> None:
    events_fd = _take_event_channel()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: descendants that detach are not followed
    signal.signal(signal.SIGTERM, _asked_to_stop)  # before the fork: no moment without it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keeper_pid = os.getpid()
    model_pid = os.fork()
    if model_pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        code = model_main(argv, events_fd, keeper_pid)
        sys.stdout.flush()
        sys.stderr.flush()
        # os._exit, not sys.exit: a thread the model started must not keep a finished job
        # alive.
        os._exit(code)
    os.close(events_fd)  # only the model process writes events
    _exit_as(_keep(model_pid))


if __name__ == "__main__":
    main(sys.argv)
