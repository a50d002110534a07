"""The model process restricts itself here, before the first line of model code is imported.

Layers, each applied by the process to itself and impossible to lift afterwards:
- Landlock (the kernel's unprivileged sandbox; ABI 1 = Linux 5.13): read-only access to what
  Python needs, read-write to the job's own work dir and nothing else; no TCP connect or bind
  unless the runtime allows network (ABI 4); no signals to, and no abstract unix sockets of,
  processes outside the sandbox (ABI 6).
- seccomp: no new sockets (no unix sockets ever, as Landlock does not cover a socket file's
  path; no IP sockets while network is off), no io_uring, no open_by_handle_at.
- when started as root: the process becomes an unprivileged user (default nobody) with no
  capability but reading what Landlock allows, and no way back (no_new_privs).
- rlimits: processes, address space, CPU time, core files.

No Django here: this module runs next to untrusted code.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import pwd
import resource
import stat
import struct
import sys
import sysconfig
from dataclasses import asdict, dataclass, field

MODES = ("auto", "required", "off")

_SYS = {  # the three Landlock system calls have the same numbers on every architecture
    "create_ruleset": 444,
    "add_rule": 445,
    "restrict_self": 446,
}
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_RULE_NET_PORT = 2

# File system rights, by the ABI that brought them.
_FS_EXECUTE = 1 << 0
_FS_WRITE_FILE = 1 << 1
_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
_FS_ABI1 = (1 << 13) - 1  # execute … make_sym
_FS_REFER = 1 << 13  # ABI 2
_FS_TRUNCATE = 1 << 14  # ABI 3
_FS_IOCTL_DEV = 1 << 15  # ABI 5
_FILE_ONLY = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
_NET_BIND_TCP = 1 << 0
_NET_CONNECT_TCP = 1 << 1
_SCOPE_ABSTRACT_UNIX = 1 << 0
_SCOPE_SIGNAL = 1 << 1

_READ = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_PR_SET_KEEPCAPS = 8
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_RAISE = 2
_CAP_DAC_READ_SEARCH = 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# What every Python process reads, beside the interpreter's own folders.
_SYSTEM_READ_ONLY = (
    "/usr",
    "/lib",
    "/lib64",
    "/bin",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/mime.types",
    "/usr/share/zoneinfo",
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/proc/stat",
    "/sys/devices/system/cpu",
)
_SYSTEM_READ_WRITE = ("/dev/null",)


class SandboxError(Exception):
    """The sandbox was required and cannot be had; the message says why."""


@dataclass
class SandboxPolicy:
    """What the supervisor asks of one model process (a part of spec.json)."""

    mode: str = "auto"  # auto | required | off
    read_write: list[str] = field(default_factory=list)  # the work dir (made the user's)
    shared_read_write: list[str] = field(default_factory=list)  # MODEL_SANDBOX_READ_WRITE
    read_only: list[str] = field(default_factory=list)  # the inputs, extra folders
    inputs: list[str] = field(default_factory=list)  # the job's inputs folder
    network: bool = False
    network_ports: list[int] = field(default_factory=list)  # empty: any port
    user: str = "nobody"  # taken when the process starts as root
    address_space: int | None = None  # bytes (RLIMIT_AS)
    cpu_seconds: int | None = None  # RLIMIT_CPU
    max_processes: int = 64  # processes the model may have at once
    # Threads beyond those (RLIMIT_NPROC counts threads): a Spark driver's JVM runs hundreds.
    threads: int = 0

    @classmethod
    def from_dict(cls, data: dict | None) -> SandboxPolicy:
        return cls(**(data or {"mode": "off"}))

    def to_dict(self) -> dict:
        return asdict(self)


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 where Landlock is missing or switched off."""
    if sys.platform != "linux":
        return 0
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(
        ctypes.c_long(_SYS["create_ruleset"]), None, ctypes.c_size_t(0),
        ctypes.c_uint32(_CREATE_RULESET_VERSION),
    )  # fmt: skip
    return max(int(version), 0)


def sandbox_support(mode: str) -> dict:
    """What a worker can promise for MODE: {"mode", "on", "abi", "note"}; shown at its start,
    in its heartbeat and on the Runtimes page."""
    abi = landlock_abi()
    if mode == "off":
        return {"mode": mode, "on": False, "abi": abi, "note": "switched off (MODEL_SANDBOX=off)"}
    if abi < 1:
        return {
            "mode": mode, "on": False, "abi": 0,
            "note": f"this kernel ({platform.release()}) has no Landlock",
        }  # fmt: skip
    missing = []
    if abi < 4:
        missing.append("network rules need Linux 6.7")
    if abi < 6:
        missing.append("signal scoping needs Linux 6.12")
    note = f"Landlock ABI {abi}" + (f" ({'; '.join(missing)})" if missing else "")
    return {"mode": mode, "on": True, "abi": abi, "note": note}


# --- Landlock -------------------------------------------------------------------------------


def _syscall(name: str, *args) -> int:
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(ctypes.c_long(_SYS[name]), *args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock_{name}: {os.strerror(err)}")
    return int(result)


def _handled_fs(abi: int) -> int:
    rights = _FS_ABI1
    if abi >= 2:
        rights |= _FS_REFER
    if abi >= 3:
        rights |= _FS_TRUNCATE
    if abi >= 5:
        rights |= _FS_IOCTL_DEV
    return rights


def _add_path(ruleset: int, path: str, rights: int) -> bool:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False  # not on this machine: nothing to allow
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _FILE_ONLY
        attr = struct.pack("=Qi", rights, fd)  # struct landlock_path_beneath_attr (packed)
        buf = ctypes.create_string_buffer(attr, len(attr))
        _syscall("add_rule", ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), buf, 0)
    finally:
        os.close(fd)
    return True


def _landlock(policy: SandboxPolicy, abi: int, read_only: list[str]) -> None:
    handled_fs = _handled_fs(abi)
    handled_net = 0
    if abi >= 4 and not (policy.network and not policy.network_ports):
        handled_net = _NET_BIND_TCP | _NET_CONNECT_TCP
    scoped = _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL if abi >= 6 else 0
    if abi >= 6:
        attr = struct.pack("=QQQ", handled_fs, handled_net, scoped)
    elif abi >= 4:
        attr = struct.pack("=QQ", handled_fs, handled_net)
    else:
        attr = struct.pack("=Q", handled_fs)
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _syscall("create_ruleset", buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    try:
        for path in read_only:
            _add_path(ruleset, path, _READ & handled_fs)
        for path in [*policy.read_write, *policy.shared_read_write, *_SYSTEM_READ_WRITE]:
            _add_path(ruleset, path, handled_fs)
        if handled_net and policy.network:
            for port in policy.network_ports:
                attr = struct.pack("=QQ", _NET_CONNECT_TCP, int(port))
                port_buf = ctypes.create_string_buffer(attr, len(attr))
                _syscall(
                    "add_rule", ctypes.c_int(ruleset), ctypes.c_int(_RULE_NET_PORT), port_buf, 0
                )
        _syscall("restrict_self", ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)


def _interpreter_paths() -> list[str]:
    """The interpreter, its standard library and every site-packages folder: not the project's
    checkout (on sys.path through PYTHONPATH), whose runner modules are imported beforehand."""
    paths = {
        sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        *(sysconfig.get_paths().get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib")),
    }  # fmt: skip
    for entry in sys.path:
        if "site-packages" in entry or "dist-packages" in entry:
            paths.add(entry)
    resolved = set()
    for path in paths:
        if path:
            resolved.add(path)
            resolved.add(os.path.realpath(path))
    return sorted(resolved)


# --- seccomp --------------------------------------------------------------------------------

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_NR = {  # socket, io_uring_setup, open_by_handle_at
    "x86_64": (41, 425, 304),
    "aarch64": (198, 425, 265),
}
_AF_UNIX = 1
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000


def _seccomp(network: bool) -> bool:
    """A filter of our own (a few BPF instructions, no library): False on an architecture it
    does not know (the Landlock rules still hold there)."""
    machine = platform.machine()
    if machine not in _AUDIT_ARCH:
        return False
    nr_socket, nr_io_uring, nr_by_handle = _NR[machine]
    deny = _RET_ERRNO | errno.EACCES

    def ins(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
        return struct.pack("=HBBI", code, jt, jf, k)

    program = [
        ins(_BPF_LD_W_ABS, 4),  # seccomp_data.arch
        ins(_BPF_JEQ_K, _AUDIT_ARCH[machine], 1, 0),
        ins(_BPF_RET_K, deny),  # another ABI (32-bit calls): nothing
        ins(_BPF_LD_W_ABS, 0),  # seccomp_data.nr
    ]
    if machine == "x86_64":  # x32 calls carry bit 30
        program += [ins(_BPF_JGE_K, 0x40000000, 0, 1), ins(_BPF_RET_K, deny)]
    program += [
        ins(_BPF_JEQ_K, nr_io_uring, 0, 1),
        ins(_BPF_RET_K, deny),
        ins(_BPF_JEQ_K, nr_by_handle, 0, 1),
        ins(_BPF_RET_K, deny),
        ins(_BPF_JEQ_K, nr_socket, 1, 0),
        ins(_BPF_RET_K, _RET_ALLOW),
    ]
    if network:  # IP sockets as Landlock allows them; never a unix socket
        program += [
            ins(_BPF_LD_W_ABS, 16),  # seccomp_data.args[0] (low half): the family
            ins(_BPF_JEQ_K, _AF_UNIX, 0, 1),
            ins(_BPF_RET_K, deny),
            ins(_BPF_RET_K, _RET_ALLOW),
        ]
    else:
        program += [ins(_BPF_RET_K, deny)]
    code = b"".join(program)
    filters = ctypes.create_string_buffer(code, len(code))

    class _Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = _Prog(len(program), ctypes.addressof(filters))
    _prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(prog))
    return True


# --- user, capabilities, limits ---------------------------------------------------------


def _prctl(option: int, *args: int) -> None:
    libc = _libc()
    values = [ctypes.c_ulong(a) for a in args] + [ctypes.c_ulong(0)] * (4 - len(args))
    if libc.prctl(ctypes.c_int(option), *values) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


def _capset(bits: int) -> None:
    libc = _libc()
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)(bits, bits, bits, 0, 0, 0)  # effective, permitted, inheritable
    if libc.capset(header, data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def _readable_by_others(path: str) -> bool:
    """Whether a user of no group of ours can reach PATH: o+x on every folder above it."""
    current = "/"
    for part in ["", *os.path.realpath(path).strip("/").split("/")]:
        current = os.path.join(current, part)
        try:
            if not os.stat(current).st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


def _drop_user(name: str, workdirs: list[str], inputs: list[str]) -> str:
    """From root to NAME. The work dir becomes NAME's. Where the interpreter lies in a folder
    other users cannot enter (a Python under /root), the process keeps one capability, reading
    past file modes (under Landlock, whose rules still decide what it may read); else the
    inputs are made readable by NAME's group (hard links of uploads: their folder stays the
    server's own)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise SandboxError(f"the sandbox user {name!r} does not exist on this machine") from None
    for top in workdirs:
        for folder, dirs, files in os.walk(top):
            for item in (folder, *(os.path.join(folder, n) for n in dirs + files)):
                os.lchown(item, entry.pw_uid, entry.pw_gid)
    # The work dir lies in DATA_DIR, the server's own (0700): reached through it by path, the
    # work dir and the inputs need the capability too, unless the deployment opened them.
    reached = (sys.base_prefix, sys.prefix, *workdirs, *inputs)
    keep = not all(_readable_by_others(p) for p in reached)
    if not keep:
        for top in inputs:
            for folder, _dirs, files in os.walk(top):
                os.chown(folder, -1, entry.pw_gid)
                os.chmod(folder, 0o750)
                for item in files:
                    path = os.path.join(folder, item)
                    os.chown(path, -1, entry.pw_gid)
                    os.chmod(path, 0o640)
    last_cap = int(open("/proc/sys/kernel/cap_last_cap").read())
    for cap in range(last_cap + 1):
        if not (keep and cap == _CAP_DAC_READ_SEARCH):
            _prctl(_PR_CAPBSET_DROP, cap)
    if keep:
        _prctl(_PR_SET_KEEPCAPS, 1)
    os.setgroups([])
    os.setresgid(entry.pw_gid, entry.pw_gid, entry.pw_gid)
    os.setresuid(entry.pw_uid, entry.pw_uid, entry.pw_uid)
    if keep:
        _capset(1 << _CAP_DAC_READ_SEARCH)
        _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, _CAP_DAC_READ_SEARCH)
        return f"{name} (reads past file modes: the interpreter is not readable by {name})"
    return name


def _tasks_of(uid: int) -> int:
    """Threads of every process of the user: what RLIMIT_NPROC counts (a task each)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += sum(1 for _ in os.scandir(f"/proc/{entry.name}/task"))
            except OSError:
                pass  # ended meanwhile
    return count


# The sandbox user is shared by every job's model process on the machine, and RLIMIT_NPROC
# counts all their threads together: room for other jobs that start (or start threads) after
# this one, so that a neighbour's JVM or thread pool cannot starve it. The supervisor still
# stops a model at MODEL_MAX_PROCESSES processes of its own; this limit is the backstop.
_NEIGHBOURS_HEADROOM = 1024


def _limits(policy: SandboxPolicy) -> None:
    # RLIMIT_NPROC counts every thread of the user: allow what it has now plus the model's and
    # its neighbours' room, so that the supervisor sees the model go past its number and says so.
    nproc = _tasks_of(os.geteuid()) + policy.max_processes + policy.threads + _NEIGHBOURS_HEADROOM
    _lower(resource.RLIMIT_NPROC, nproc)
    _lower(resource.RLIMIT_CORE, 0)
    if policy.address_space:
        _lower(resource.RLIMIT_AS, policy.address_space)
    if policy.cpu_seconds:
        _lower(resource.RLIMIT_CPU, policy.cpu_seconds)


def _lower(kind: int, value: int) -> None:
    soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


# --- the whole ------------------------------------------------------------------------------


def sandbox_apply(policy: SandboxPolicy) -> dict:
    """Restrict this process for good; what was applied, for the job's record. Raises
    SandboxError when the policy requires a sandbox this kernel cannot give."""
    support = sandbox_support(policy.mode)
    applied: dict = {"on": False, "abi": support["abi"], "note": support["note"]}
    if not support["on"]:
        if policy.mode == "required":
            raise SandboxError(f"the sandbox is required, but {support['note']}")
        if os.geteuid() == 0 and policy.mode != "off":
            applied["user"] = _drop_user(policy.user, policy.read_write, policy.inputs)
        _limits(policy)
        return applied
    applied["user"] = (
        _drop_user(policy.user, policy.read_write, policy.inputs)
        if os.geteuid() == 0
        else pwd.getpwuid(os.geteuid()).pw_name
    )
    _limits(policy)
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    applied["seccomp"] = _seccomp(policy.network)
    # This process's own /proc entries (its memory high-water mark, its threads), no other's.
    own_proc = f"/proc/{os.getpid()}"
    read_only = [*_interpreter_paths(), *_SYSTEM_READ_ONLY, own_proc, *policy.read_only]
    _landlock(policy, support["abi"], read_only)
    applied["on"] = True
    applied["network"] = (
        "off"
        if not policy.network
        else ("ports " + ", ".join(map(str, policy.network_ports)))
        if policy.network_ports
        else "on"
    )
    return applied


def sandbox_describe(applied: dict | None) -> str:
    """One line for the job page and log: "on (Landlock ABI 7, user nobody, network off)"."""
    if not applied:
        return ""
    if not applied.get("on"):
        return f"off ({applied.get('note') or 'not applied'})"
    parts = [f"Landlock ABI {applied.get('abi')}"]
    if applied.get("user"):
        parts.append(f"user {applied['user']}")
    parts.append(f"network {applied.get('network', 'off')}")
    return f"on ({', '.join(parts)})"
