"""Worker names: one live process per name on a machine (jobs/worker/identity.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid

import pytest

from jobs.worker.identity import LOCK_FD_ENV, NameInUse, name_choose, name_hold, name_lock


def _runtime() -> str:
    return f"rt-{uuid.uuid4().hex[:8]}"


def test_the_first_worker_of_a_runtime_is_named_after_it_and_the_next_gets_a_number():
    runtime = _runtime()

    first, fd1 = name_choose(runtime)
    second, fd2 = name_choose(runtime)
    os.close(fd1)
    third, fd3 = name_choose(runtime)  # the first one's name is free again

    host = socket.gethostname()
    assert (first, second, third) == (f"{runtime}@{host}", f"{runtime}-2@{host}", first)
    os.close(fd2)
    os.close(fd3)


def test_a_name_held_by_another_live_process_is_refused_and_freed_when_it_dies(monkeypatch):
    name = f"{_runtime()}@{socket.gethostname()}"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"""
import sys
from jobs.worker.identity import name_lock
fd = name_lock({name!r})
print("held" if fd is not None else "free", flush=True)
sys.stdin.read()
"""],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.delenv(LOCK_FD_ENV, raising=False)
        with pytest.raises(
            NameInUse, match=f"another worker process on this machine is named {name}"
        ):
            name_hold(name)
    finally:
        holder.kill()  # however it ends, the kernel lets go of its lock
        holder.wait()
    fd = name_lock(name)
    assert fd is not None
    os.close(fd)


def test_a_worker_keeps_the_lock_runworker_handed_over(monkeypatch):
    name = f"{_runtime()}@{socket.gethostname()}"
    fd = name_lock(name)
    monkeypatch.setenv(LOCK_FD_ENV, f"{fd}:{name}")

    name_hold(name)  # the same open file: not refused by its own lock

    assert name_lock(name) is None
    assert LOCK_FD_ENV not in os.environ
