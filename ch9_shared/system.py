"""What differs between Linux, macOS and Windows, in one place: processes above all.

Everything else in the project is the same code on every system (NumPy's BLAS and its
threads, Apple's Accelerate included, are the thread policy's: ch9_shared/threads.py). Each
branch here has a test that runs on Linux by faking the other systems (a module made
unimportable, a call made to raise).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ch9_shared.threads import numpy_blas

# The grader's child process: the channel, the limits, the kill.

def limit_memory(memory_mb: int) -> str | None:
    """Cap this process's data segment at `memory_mb` MiB, so that an allocation past it
    raises MemoryError, and write no core file. None when the cap is set, else why not:
    Windows has no `resource`, and macOS's RLIMIT_DATA caps the whole address space, which
    a Python process has long passed, so setrlimit refuses it."""
    try:
        import resource
    except ImportError:
        return "this system has none (Python has no resource module here)"
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (memory_mb << 20, memory_mb << 20))
    except (ValueError, OSError) as e:
        return f"setrlimit(RLIMIT_DATA) refused it: {e}"
    return None


def new_group_options() -> dict[str, object]:
    """Popen's options that start the child in a process group of its own: a new session
    where the system has one (POSIX), so that kill_group ends what the child started too;
    on Windows a new process group. Either way a Ctrl+C meant for the grader does not reach
    the answers' code."""
    if hasattr(os, "setsid"):
        return {"start_new_session": True}
    return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}


def kill_group(process: subprocess.Popen) -> None:
    """Kill the child and, where the system has process groups to kill (POSIX), every
    process of its group; Windows kills the child alone. Returns once the child is gone."""
    if hasattr(os, "killpg"):
        with contextlib.suppress(OSError):  # the group is gone, or (macOS) only a zombie
            os.killpg(process.pid, signal.SIGKILL)
    process.kill()
    process.wait()


def user_options(name: str, uid: int | None = None) -> dict[str, object]:
    """Popen's options that start the child as the user `name` (or as the user id `uid`,
    in `name`'s group: one of spare_uids), in that group and no other, so that it reads only
    what that user may (Gradescope runs its autograders as root). ValueError, with why in
    words, where this process cannot: only root can start a process as another user, and
    Windows has no such users (nor Python's pwd module)."""
    try:
        import pwd
    except ImportError:
        raise ValueError("this system cannot start a process as another user (Python has no "
                         "pwd module here)") from None
    if os.geteuid() != 0:
        raise ValueError("only root can run the answers as another user: run as root, or "
                         "as the user you want")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ValueError(f"no user called {name!r} here") from None
    return {"user": entry.pw_uid if uid is None else uid, "group": entry.pw_gid,
            "extra_groups": []}


FIRST_SPARE_UID = 0x7FFF0000
"""Where spare_uids starts looking: far above the ids that systems give accounts."""


def spare_uids(count: int) -> list[int]:
    """`count` user ids that no account names and no process runs as, inside this system's
    user-id map: one for each file graded at once (as root), so that one file's answers
    cannot signal, trace or read another file's processes. [] where there are none (not
    Linux, no pwd module)."""
    try:
        import pwd
    except ImportError:
        return []
    if not has_proc():
        return []
    taken = {entry.pw_uid for entry in pwd.getpwall()} | process_uids()
    mapped = _mapped_uids()
    found: list[int] = []
    for uid in range(FIRST_SPARE_UID, FIRST_SPARE_UID + 4096):
        if len(found) == count:
            break
        if uid not in taken and any(uid in ids for ids in mapped):
            found.append(uid)
    return found if len(found) == count else []


def _mapped_uids() -> list[range]:
    """The user ids this process's user namespace maps (/proc/self/uid_map)."""
    try:
        text = (PROC / "self" / "uid_map").read_text(encoding="utf-8")
    except OSError:
        return [range(2**32 - 1)]
    ranges = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            start, _, length = (int(field) for field in line.split())
            ranges.append(range(start, start + length))
    return ranges


def limit_processes(more: int) -> str | None:
    """Let this process's user start at most `more` processes (and threads) beyond those it
    has, so that a fork bomb ends in an error inside the answer (RLIMIT_NPROC counts the
    user's processes, and root's are not limited). None when set, else why not."""
    try:
        import resource
    except ImportError:
        return "this system has none (Python has no resource module here)"
    running = len(processes_of(os.getuid())) if has_proc() else 0
    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (running + more, running + more))
    except (ValueError, OSError) as e:
        return f"setrlimit(RLIMIT_NPROC) refused it: {e}"
    return None


PR_SET_CHILD_SUBREAPER = 36
"""Linux's prctl option (linux/prctl.h) that makes a process the reaper of its orphans."""
PR_SET_DUMPABLE = 4
"""Linux's prctl option: 0 keeps other processes of the same user from tracing this one or
reading its memory, descriptors and environment in /proc."""


def _prctl(option: int, value: int, name: str) -> str | None:
    """Linux's prctl(option, value); None once done, else why not."""
    if not sys.platform.startswith("linux"):
        return f"{sys.platform} has no {name} (Linux's prctl)"
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(option, value, 0, 0, 0) != 0:
            return f"prctl({name}) refused it: {os.strerror(ctypes.get_errno())}"
    except (OSError, AttributeError) as e:
        return f"prctl cannot be called here: {e}"
    return None


def become_subreaper() -> str | None:
    """Make this process the one its descendants' orphans are handed to (Linux's
    PR_SET_CHILD_SUBREAPER), not init: a process an answer starts, even a daemon that left
    its session with setsid, stays a descendant of the grader, which `end_orphans` finds
    and kills. None once it is, else why not: macOS and Windows have no such call, so an
    answer's daemon there outlives its grading (docs/exercises.md)."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1, "PR_SET_CHILD_SUBREAPER")


PR_SET_PDEATHSIG = 1
"""Linux's prctl option: the signal this process gets when the thread that started it ends."""


def die_with_parent() -> str | None:
    """Have this process killed (SIGKILL) when the grader that started it ends, however it
    ends, even by SIGKILL (Linux's PR_SET_PDEATHSIG). None once set, else why not: macOS
    and Windows have no such call (docs/exercises.md)."""
    return _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "PR_SET_PDEATHSIG")


PR_SET_NO_NEW_PRIVS = 38
"""Linux's prctl option that lets a process without privileges install a seccomp filter."""


class Calls(NamedTuple):
    """A machine's calling convention (AUDIT_ARCH_*) and the numbers of its calls that
    install a seccomp filter and start a process (asm/unistd.h)."""

    arch: int
    seccomp: int
    clone: int
    clone3: int
    forks: tuple[int, ...]  # fork and vfork, where the machine has them


CALLS = {"x86_64": Calls(0xC000003E, seccomp=317, clone=56, clone3=435, forks=(57, 58)),
         "aarch64": Calls(0xC00000B7, seccomp=277, clone=220, clone3=435, forks=())}
CLONE_THREAD = 0x10000
SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC = 1, 1


class _Instruction(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint32)]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Instruction))]


def no_forks_filter(machine: str) -> list[tuple[int, int, int, int]]:
    """The seccomp program (classic BPF: code, jump if true, jump if false, k) that lets
    every call through but those that start a process: fork, vfork and a clone that is not
    a thread's are refused (EPERM), clone3 said missing (ENOSYS: the C library then starts
    its threads with clone), and every call of another convention (i386's, x32's) refused."""
    calls = CALLS[machine]
    load, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    body: list[tuple[int, str | None, str | None, int]] = [
        (load, None, None, 4),  # seccomp_data.arch
        (jeq, None, "deny", calls.arch),
        (load, None, None, 0),  # seccomp_data.nr
        (jge, "deny", None, 0x40000000),  # x32's calls
        *[(jeq, "deny", None, number) for number in calls.forks],
        (jeq, "missing", None, calls.clone3),
        (jeq, None, "allow", calls.clone),
        (load, None, None, 16),  # the low half of clone's first argument: its flags
        (jset, "allow", "deny", CLONE_THREAD),
    ]
    ends = {"allow": 0x7FFF0000, "deny": 0x50000 | errno.EPERM, "missing": 0x50000 | errno.ENOSYS}
    at = {label: len(body) + number for number, label in enumerate(ends)}
    return [(code, 0 if yes is None else at[yes] - i - 1, 0 if no is None else at[no] - i - 1, k)
            for i, (code, yes, no, k) in enumerate(body)] + [(ret, 0, 0, k) for k in ends.values()]


def forbid_new_processes() -> str | None:
    """Let this process start no other process, ever (threads it may): a seccomp filter on
    every thread it has and will have, kept across exec, makes os.fork and subprocess raise
    PermissionError, and os.system fail. The answers' process is then their only one, and it
    dies with the grader however the grader ends (die_with_parent: a process it started
    would not, as a fork loses the parent-death signal). None once set, else why not: only
    Linux has seccomp, and this filter knows x86-64's and ARM64's calls
    (docs/exercises.md)."""
    if not sys.platform.startswith("linux"):
        return f"{sys.platform} has no seccomp filter (Linux's)"
    machine = platform.machine()
    if machine not in CALLS:
        return f"no seccomp filter for this machine ({machine})"
    why = _prctl(PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS")
    if why:
        return why
    program = no_forks_filter(machine)
    instructions = (_Instruction * len(program))(*program)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syscall(ctypes.c_long(CALLS[machine].seccomp),
                        ctypes.c_long(SECCOMP_SET_MODE_FILTER),
                        ctypes.c_long(SECCOMP_FILTER_FLAG_TSYNC),
                        ctypes.byref(_Program(len(instructions), instructions))) != 0:
            return f"seccomp refused it: {os.strerror(ctypes.get_errno())}"
    except (OSError, AttributeError) as e:
        return f"seccomp cannot be called here: {e}"
    return None


def not_traceable() -> str | None:
    """Keep every other process of this user (an answer's, in the grader's child) from
    tracing this one, or from reading its memory, or writing to its output through
    /proc/PID/fd (Linux's PR_SET_DUMPABLE 0; it also writes no core file). None once done,
    else why not: macOS and Windows have no such call (docs/exercises.md)."""
    return _prctl(PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE")


PROC = Path("/proc")


def has_proc() -> bool:
    """Whether this system lists its processes in /proc (Linux)."""
    return (PROC / "self" / "stat").exists()


def _stat(pid: int) -> list[bytes] | None:
    """/proc/PID/stat's fields after the command's name (which may hold spaces and
    parentheses): [state, ppid, pgrp, session, ...]; None if the process is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    return text[text.rindex(b")") + 2:].split()


def processes() -> dict[int, tuple[int, int, str]]:
    """Every process: its (parent, session, state), from /proc; {} where there is none."""
    found = {}
    if not has_proc():
        return found
    for entry in os.scandir(PROC):
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            found[int(entry.name)] = (int(fields[1]), int(fields[3]), fields[0].decode())
    return found


def _real_uid(pid: str) -> int | None:
    """The real user of process `pid`, from /proc/PID/status; None if it is gone."""
    with contextlib.suppress(OSError, ValueError, IndexError, StopIteration):
        status = (PROC / pid / "status").read_text(encoding="utf-8")
        return int(next(line for line in status.splitlines()
                        if line.startswith("Uid:")).split()[1])
    return None


def processes_of(uid: int) -> list[int]:
    """The processes whose real user is `uid`, from /proc."""
    return [int(entry.name) for entry in os.scandir(PROC)
            if entry.name.isdigit() and _real_uid(entry.name) == uid]


def process_uids() -> set[int]:
    """The real users of every process, from /proc."""
    return {uid for entry in os.scandir(PROC)
            if entry.name.isdigit() and (uid := _real_uid(entry.name)) is not None}


def descendants(pid: int, table: dict[int, tuple[int, int, str]] | None = None) -> list[int]:
    """The processes below `pid` (children, theirs, ...), from /proc; [] where there is none."""
    table = processes() if table is None else table
    children: dict[int, list[int]] = {}
    for child, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(child)
    found, todo = [], list(children.get(pid, []))
    while todo:
        found.append(todo.pop())
        todo += children.get(found[-1], [])
    return found


def kill_tree(process: subprocess.Popen) -> None:
    """Kill the child and everything below it, its process group too, in rounds until none
    is left (a fork bomb may add some as they die), and reap it. Where there is no /proc,
    kill_group alone."""
    for _ in range(100):
        family = descendants(process.pid)
        for pid in family:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if hasattr(os, "killpg"):
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            process.kill()
        if not family:
            break
    process.wait()


def end_orphans(keep: set[int]) -> int:
    """Kill (and reap) every orphan handed to this process (as a subreaper, become_subreaper)
    that is not one of `keep` (the children it started) nor in its own session, with all
    below it: what the answers started and left. Their number; 0 where there is no /proc."""
    me, ended = os.getpid(), 0
    session = os.getsid(0) if hasattr(os, "getsid") else None
    for _ in range(100):
        table = processes()
        orphans = [pid for pid, (parent, sid, _) in table.items()
                   if parent == me and pid not in keep and sid != session]
        if not orphans:
            return ended
        for pid in orphans:
            for below in [*descendants(pid, table), pid]:
                with contextlib.suppress(OSError):
                    os.kill(below, signal.SIGKILL)
        for pid in orphans:
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)
            ended += 1
    return ended


def cpu_seconds(pid: int) -> float | None:
    """The CPU time process `pid` has used (user and system), from /proc (Linux); None
    where there is no /proc, or the process is gone."""
    fields = _stat(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def how_it_ended(code: int) -> str | None:
    """What ended a child whose exit status is `code` (Popen's returncode), or None when it
    exited by itself. POSIX reports a signal as a negative code; Windows has no signals and
    reports a crash (an access violation, a stack overflow) as an NTSTATUS of 0xC0000000 up."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"{name} (out of memory?)" if name == "SIGKILL" else name
    if code >= 0xC0000000:
        return f"exception {code:#x}"
    return None


# The machine block.

def machine() -> dict[str, object]:
    """The start of a record's machine block: the machine, Python, NumPy and NumPy's BLAS
    (scripts/compare.py and tools/bench.py add what their figures also depend on)."""
    return {"machine": platform.machine(), "processor": platform.processor(),
            "python": platform.python_version(), "numpy": np.__version__,
            "numpy_blas": numpy_blas()}

# A command's peak memory.

PEAK_OF_CHILD = """import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"""
"""Run a command, then print its peak resident memory. A go-between, because on Linux a
child's peak counts its parent's memory at the fork."""


def peak_mb(argv: Sequence[str]) -> float | None:
    """The peak resident memory of the command `argv`, in MB, in a process of its own; None
    on Windows, which has no getrusage. macOS counts it in bytes, Linux in KiB."""
    if sys.platform == "win32":
        return None
    peak = subprocess.run([sys.executable, "-c", PEAK_OF_CHILD, *argv], capture_output=True,
                          encoding="utf-8", check=True)
    return int(peak.stdout) / (1024**2 if sys.platform == "darwin" else 1024)


# Signals.

def writes_past_size_limit_raise() -> None:
    """A write past the file-size limit (ulimit -f) raises OSError (EFBIG), which the
    scripts report in one line, instead of SIGXFSZ killing the process; Windows has no such
    signal, and no such limit."""
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
