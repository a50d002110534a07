"""The executor child: ``python -m jobs.runner.child spec.json``, run in the job's work dir.

Model code runs here and only here, never in the worker or the web process. No Django: the
child gets no database, broker or secret, only the work dir and the spec.

The real stdout is the event channel to the supervisor; everything else the process prints,
the model's print() and C libraries' output included, goes to stderr, which is the job log.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback

_SUPERVISOR_POLL_SECONDS = 0.5


def _take_event_channel() -> int:
    """Keep the real stdout for events and point fd 1 at the log, so print() cannot corrupt
    the channel. Done before anything else runs."""
    sys.stdout.flush()
    events_fd = os.dup(1)  # not inheritable: the model's own subprocesses do not get it
    os.dup2(2, 1)
    return events_fd


def abandon() -> None:
    """The supervisor is gone: end this process and whatever the model started (its process
    group, when the child leads one, as it does under the supervisor)."""
    if os.getpgid(0) == os.getpid():
        os.killpg(0, signal.SIGKILL)
    os._exit(2)


def _watch_supervisor() -> None:
    """When the worker is killed (SIGKILL, out of memory), nothing reads the events or
    commits the output, and the job will be started again elsewhere: stop at once instead of
    running on. Polls the parent pid, so it works while the model computes and sends nothing
    (a write to the broken event pipe ends the process too, see events.py)."""
    from jobs.worker.process import SUPERVISOR_PID_ENV

    expected = os.environ.get(SUPERVISOR_PID_ENV)
    if not expected:
        return  # run by hand, not by a supervisor

    def watch() -> None:
        while True:
            if str(os.getppid()) != expected:
                abandon()
            time.sleep(_SUPERVISOR_POLL_SECONDS)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def main(argv: list[str]) -> int:
    events_fd = _take_event_channel()
    _watch_supervisor()

    from jobs.runner.errors import JobError
    from jobs.runner.events import Events
    from jobs.runner.modelcode import ModelCode, describe
    from jobs.runner.smarttags import SmartTags
    from jobs.runner.spec import JobSpec

    events = Events(events_fd)
    try:
        if len(argv) != 2:
            raise JobError("usage: python -m jobs.runner.child spec.json")
        spec = JobSpec.read(argv[1])
        runner = RUNNERS.get(spec.job_type)
        if runner is None:
            raise JobError(f"{spec.job_type} jobs are not supported by this executor yet")
        model = ModelCode(source=spec.source, tags=SmartTags.from_dict(spec.smart_tags))
        model.load()
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


def _score(*, spec, model, events):
    from jobs.runner.scoring import ScoringRun

    return ScoringRun(spec=spec, model=model, events=events).run()


def _train(*, spec, model, events):
    from jobs.runner.training import TrainingRun

    return TrainingRun(spec=spec, model=model, events=events).run()


def _metrics(*, spec, model, events):
    from jobs.runner.metrics import MetricsRun

    return MetricsRun(spec=spec, model=model, events=events).run()


# Job type → runner. Metrics and training jobs plug in here.
RUNNERS = {"scoring": _score, "metrics": _metrics, "training": _train}


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit, not sys.exit: a thread the model started must not keep a finished job alive.
    os._exit(code)
