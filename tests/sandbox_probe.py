"""A hostile model: its init tries everything a model must not do and records what happened.

Used by tests/test_sandbox.py (through a real worker) and scripts/sandbox_probe.py. Each
attempt is one output record: {"attempt": ..., "target": ..., "outcome": "denied: ..." or
"ALLOWED: ..."}. The job parameters name the targets (the server's files, the worker's pid).
"""

from __future__ import annotations

PROBE_SOURCE = r'''
import json, os, signal, socket, time

results = []


def attempt(name, target, action):
    try:
        got = action()
    except BaseException as exc:  # what the sandbox answers is the point
        results.append({"attempt": name, "target": str(target),
                        "outcome": f"denied: {type(exc).__name__}: {exc}"[:200]})
    else:
        results.append({"attempt": name, "target": str(target),
                        "outcome": f"ALLOWED: {str(got)[:120]}"})


def read(path):
    with open(path, "rb") as f:
        return f.read(64)


def write(path):
    with open(path, "w") as f:
        f.write("the model was here")
    return "written"


def listdir(path):
    return os.listdir(path)[:5]


def connect(host, port):
    s = socket.create_connection((host, port), timeout=2)
    s.close()
    return "connected"


def connect_unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(path)
    s.close()
    return "connected"


def bind(port):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.close()
    return "bound"


def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", ("127.0.0.1", port))
    return "sent"


def signal_pid(pid):
    os.kill(pid, signal.SIGCONT)  # harmless if it were allowed; the sandbox must refuse it
    return "signalled"


def daemon():
    """fork, setsid, fork: a grandchild that ignores SIGTERM and sleeps on."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            os.write(w, str(os.getpid()).encode())
            os.close(w)
            time.sleep(300)
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
    os.close(w)
    return int(os.read(r, 32))


# modelop.init
def begin(job):
    params = json.loads(job["rawJson"])["jobParameters"] if isinstance(job, dict) and "rawJson" in job else job["jobParameters"]
    for name, path in params["read"].items():
        attempt("read " + name, path, lambda path=path: read(path))
    for name, path in params["list"].items():
        attempt("list " + name, path, lambda path=path: listdir(path))
    for name, path in params["write"].items():
        attempt("write " + name, path, lambda path=path: write(path))
    for name, (host, port) in params["connect"].items():
        attempt("connect " + name, f"{host}:{port}", lambda host=host, port=port: connect(host, port))
    for name, path in params["unix"].items():
        attempt("connect " + name, path, lambda path=path: connect_unix(path))
    attempt("bind a port", 48123, lambda: bind(48123))
    attempt("send UDP", "127.0.0.1:53", lambda: udp(53))
    for name, pid in params["signal"].items():
        attempt("signal " + name, pid, lambda pid=pid: signal_pid(pid))
    attempt("signal its keeper", os.getppid(), lambda: signal_pid(os.getppid()))
    attempt("read its keeper's environment", f"/proc/{os.getppid()}/environ",
            lambda: read(f"/proc/{os.getppid()}/environ"))
    global daemon_pid
    daemon_pid = daemon()
    # Allowed on purpose: the model's own work dir, to show the probe itself works.
    attempt("write its own work dir", "probe.txt", lambda: write("probe.txt"))


# modelop.score
def action(datum):
    for result in results:
        yield result
    yield {"attempt": "daemon left running", "target": daemon_pid, "outcome": "pid"}
'''


def probe_params(*, settings, worker_pid: int, other_workdir: str, media_file: str) -> dict:
    """Everything the probe should fail to reach, from the server's own settings."""
    db = settings.DATABASES["default"]
    data = settings.DATA_DIR
    read = {
        "the server's database": str(db.get("TEST", {}).get("NAME") or db["NAME"])
        if db["ENGINE"].endswith("sqlite3")
        else str(data / "secret_key"),
        "the secret key": str(data / "secret_key"),
        "the field encryption key": str(data / "field_encryption_key"),
        "the admin password": str(data / "admin-password"),
        "/etc/shadow": "/etc/shadow",
        "the worker's environment": f"/proc/{worker_pid}/environ",
        "init's environment": "/proc/1/environ",
        "an uploaded file in media": media_file,
        "the settings module": str(settings.BASE_DIR / "commandcenter" / "settings.py"),
    }
    return {
        "read": read,
        "list": {
            "other jobs' work dirs": str(settings.JOB_WORK_DIR),
            "another job's work dir": other_workdir,
            "the data dir": str(data),
            "the checkout": str(settings.BASE_DIR),
            "/tmp": "/tmp",
        },
        "write": {
            "the checkout": str(settings.BASE_DIR / "probe-was-here.txt"),
            "/tmp": "/tmp/probe-was-here.txt",
            "the data dir": str(data / "probe-was-here.txt"),
        },
        "connect": {
            "PostgreSQL on loopback": ["127.0.0.1", 5432],
            "Redis on loopback": ["127.0.0.1", 6379],
        },
        "unix": {"PostgreSQL's socket": "/var/run/postgresql/.s.PGSQL.5432"},
        "signal": {"the worker": worker_pid, "init": 1},
    }
