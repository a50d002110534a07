"""Each worker process goes by a name no other live worker process has.

A job records the name of the worker that claimed it, and the reconciler judges the job by
that name's heartbeat row. Two processes under one name would share one row: the survivor of
the two keeps a dead one's jobs "online" for ever, and a newcomer's start time makes the
reconciler take back a healthy job. So a name is held, on its machine, by an exclusive lock
on a file named after it (flock: the kernel lets go when the process ends, however it ends).

runworker picks the first free name of `<runtime>@<host>`, `<runtime>-2@<host>`, ... (or
checks the one given with --hostname) and hands the lock it holds on to the worker it execs;
every worker process checks its name again when it starts (worker_init), so a `celery worker`
started by hand under a name in use refuses to start.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from pathlib import Path

from celery.utils.nodenames import default_nodename, host_format

LOCK_FD_ENV = "MOC_WORKER_NAME_LOCK"  # "<fd>:<name>", set by runworker for the worker it execs
_UNSAFE = re.compile(r"[^A-Za-z0-9@._-]+")

_held: dict[str, int] = {}  # name → the open file holding its lock, for this process's life


class NameInUse(Exception):
    pass


def lock_dir() -> Path:
    folder = Path(tempfile.gettempdir()) / "moc-workers"
    folder.mkdir(mode=0o1777, exist_ok=True)
    return folder


def worker_name(hostname: str) -> str:
    """A Celery --hostname as the worker will call itself (%h, %n, %d filled in)."""
    return default_nodename(host_format(hostname))


def name_lock(name: str) -> int | None:
    """An open file descriptor holding this machine's lock on NAME; None while another
    process holds it (or made its file, under a user of its own)."""
    path = lock_dir() / _UNSAFE.sub("_", name)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except PermissionError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def name_choose(runtime: str) -> tuple[str, int]:
    """The first free name of `RUNTIME@host`, `RUNTIME-2@host`, ..., and its lock."""
    for n in range(1, 1000):
        name = worker_name(f"{runtime}@%h" if n == 1 else f"{runtime}-{n}@%h")
        fd = name_lock(name)
        if fd is not None:
            return name, fd
    raise NameInUse(f"999 workers of runtime {runtime} run on this machine already")


def name_hand_over(name: str, fd: int) -> None:
    """Keep NAME's lock across the exec of the worker process (which checks it again)."""
    os.set_inheritable(fd, True)
    os.environ[LOCK_FD_ENV] = f"{fd}:{name}"


def name_hold(name: str) -> None:
    """This process is worker NAME: hold its lock, or NameInUse when another live process on
    this machine holds it."""
    if name in _held:
        return
    handed, _, handed_name = os.environ.pop(LOCK_FD_ENV, "").partition(":")
    if handed.isdigit() and handed_name == name:
        try:
            os.fstat(int(handed))
        except OSError:
            pass
        else:
            os.set_inheritable(int(handed), False)  # the model processes do not get it
            _held[name] = int(handed)
            return
    fd = name_lock(name)
    if fd is None:
        raise NameInUse(
            f"another worker process on this machine is named {name}: give each worker its "
            "own name (runworker --hostname NAME@%h, or leave it out to get a free one)"
        )
    _held[name] = fd
