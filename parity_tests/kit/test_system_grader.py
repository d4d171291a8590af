"""ch9_shared/system.py's grader section, every branch on this machine: the other systems are
faked (a module made unimportable, a call made to raise, a function taken away)."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from ch9_shared import system
from parity_tests.kit.conftest import has_process_filter


class FakeResource:
    """The resource module, recording setrlimit's calls; `refuse` is what RLIMIT_DATA raises."""

    RLIMIT_DATA, RLIMIT_CORE = "data", "core"

    def __init__(self, refuse: Exception | None = None):
        self.refuse = refuse
        self.calls: list[tuple[str, tuple[int, int]]] = []

    def setrlimit(self, which: str, limits: tuple[int, int]) -> None:
        if which == self.RLIMIT_DATA and self.refuse is not None:
            raise self.refuse
        self.calls.append((which, limits))


def test_linux_caps_the_data_segment_and_writes_no_core(monkeypatch):
    fake = FakeResource()
    monkeypatch.setitem(sys.modules, "resource", fake)
    assert system.limit_memory(300) is None
    assert fake.calls == [("core", (0, 0)), ("data", (300 << 20, 300 << 20))]


def test_windows_has_no_resource_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "resource", None)
    assert system.limit_memory(300) == "this system has none (Python has no resource module here)"


@pytest.mark.parametrize("error", [ValueError("current limit exceeds maximum limit"),
                                   OSError(errno.EPERM, "Operation not permitted")], ids=str)
def test_macos_refuses_the_cap(monkeypatch, error):
    """macOS's RLIMIT_DATA caps the whole address space, so setrlimit raises: the reason is
    returned, never raised, and core files are still off."""
    fake = FakeResource(refuse=error)
    monkeypatch.setitem(sys.modules, "resource", fake)
    assert system.limit_memory(300) == f"setrlimit(RLIMIT_DATA) refused it: {error}"
    assert fake.calls == [("core", (0, 0))]


@pytest.mark.skipif(not hasattr(os, "setsid"), reason="no sessions here (Windows)")
def test_posix_starts_the_child_in_a_new_session():
    assert system.new_group_options() == {"start_new_session": True}


def test_windows_starts_the_child_in_a_new_process_group(monkeypatch):
    monkeypatch.delattr(os, "setsid", raising=False)
    monkeypatch.setattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200, raising=False)
    assert system.new_group_options() == {"creationflags": 0x200}


FAMILY = ("import subprocess, sys, time\n"
          "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
          "print('ready', flush=True)\ntime.sleep(60)\n")
"""A child that starts a grandchild; both hold the child's standard output open."""


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="no process groups here (Windows)")
def test_posix_kills_the_whole_group():
    process = subprocess.Popen([sys.executable, "-c", FAMILY], stdout=subprocess.PIPE,
                               **system.new_group_options())
    assert process.stdout.readline() == b"ready\n"
    system.kill_group(process)
    assert process.returncode == -9  # SIGKILL
    out, _ = process.communicate(timeout=10)  # the end of the pipe: the grandchild is gone
    assert out == b""


def test_windows_kills_the_child(monkeypatch):
    monkeypatch.delattr(os, "killpg", raising=False)
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    system.kill_group(process)
    assert process.returncode not in (None, 0)
    system.kill_group(process)  # a child that is gone already: nothing to do, no error


def test_a_child_that_has_ended_is_no_error_to_kill():
    process = subprocess.Popen([sys.executable, "-c", "pass"], **system.new_group_options())
    process.wait()
    system.kill_group(process)
    assert process.returncode == 0


@pytest.mark.parametrize("code, words", [
    (0, None), (1, None), (255, None),
    (-11, "SIGSEGV"),
    pytest.param(-9, "SIGKILL (out of memory?)",
                 marks=pytest.mark.skipif(not hasattr(os, "killpg"), reason="no SIGKILL here")),
    (-200, "signal 200"),  # no signal of the system's has that number
    (0xC0000005, "exception 0xc0000005"),  # Windows: an access violation
    (0xC00000FD, "exception 0xc00000fd"),  # Windows: a stack overflow
])
def test_how_a_child_ended(code, words):
    assert system.how_it_ended(code) == words


# What an answer starts: a limit on processes, a subreaper, the kill of a whole tree.

def test_linux_limits_the_users_processes(monkeypatch):
    fake = FakeResource()
    fake.RLIMIT_NPROC = "nproc"
    monkeypatch.setitem(sys.modules, "resource", fake)
    monkeypatch.setattr(system, "processes_of", lambda uid: [1, 2, 3])
    assert system.limit_processes(10) is None
    assert fake.calls == [("nproc", (13, 13))]


def test_windows_limits_no_processes(monkeypatch):
    monkeypatch.setitem(sys.modules, "resource", None)
    assert system.limit_processes(10) == "this system has none (Python has no resource " \
                                         "module here)"


def test_a_refused_process_limit_is_a_reason(monkeypatch):
    class Refusing(FakeResource):
        RLIMIT_NPROC = "nproc"

        def setrlimit(self, which, limits):
            raise ValueError("not allowed")

    monkeypatch.setitem(sys.modules, "resource", Refusing())
    assert system.limit_processes(10) == "setrlimit(RLIMIT_NPROC) refused it: not allowed"


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_macos_and_windows_have_no_subreaper(monkeypatch, platform):
    monkeypatch.setattr(sys, "platform", platform)
    assert system.become_subreaper() == f"{platform} has no PR_SET_CHILD_SUBREAPER (Linux's prctl)"
    assert system.not_traceable() == f"{platform} has no PR_SET_DUMPABLE (Linux's prctl)"
    assert system.die_with_parent() == f"{platform} has no PR_SET_PDEATHSIG (Linux's prctl)"
    assert system.forbid_new_processes() == f"{platform} has no seccomp filter (Linux's)"


def test_a_refused_prctl_is_a_reason(monkeypatch):
    class Libc:
        def prctl(self, *args):
            ctypes.set_errno(errno.EPERM)
            return -1

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(ctypes, "CDLL", lambda *args, **kwargs: Libc())
    assert system.become_subreaper() == ("prctl(PR_SET_CHILD_SUBREAPER) refused it: "
                                         f"{os.strerror(errno.EPERM)}")

    def no_libc(*args, **kwargs):
        raise OSError("no C library")

    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    assert system.become_subreaper() == "prctl cannot be called here: no C library"


def test_a_refused_seccomp_filter_is_a_reason(monkeypatch):
    """A kernel without seccomp, or a container that forbids it: why, never raised."""
    class Libc:
        def prctl(self, *args):
            return 0

        def syscall(self, *args):
            ctypes.set_errno(errno.EINVAL)
            return -1

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(ctypes, "CDLL", lambda *args, **kwargs: Libc())
    assert system.forbid_new_processes() == f"seccomp refused it: {os.strerror(errno.EINVAL)}"
    monkeypatch.delattr(Libc, "syscall")  # no such function in this C library
    assert system.forbid_new_processes().startswith("seccomp cannot be called here: ")


def test_a_machine_the_filter_does_not_know_has_none(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(platform, "machine", lambda: "riscv64")
    assert system.forbid_new_processes() == "no seccomp filter for this machine (riscv64)"


def verdict(program: list[tuple[int, int, int, int]], arch: int, number: int,
            flags: int = 0) -> int:
    """What a classic BPF seccomp program returns for one call (seccomp_data: the call's
    number at 0, its convention at 4, its first argument's low half at 16): the loads, the
    jumps and the return this filter uses, and nothing else."""
    data, here, held = {0: number, 4: arch, 16: flags}, 0, 0
    while True:
        code, yes, no, k = program[here]
        if code == 0x06:
            return k
        if code == 0x20:
            held = data[k]
        else:
            taken = {0x15: held == k, 0x35: held >= k, 0x45: bool(held & k)}[code]
            here += yes if taken else no
        here += 1


ALLOW, DENIED, MISSING = 0x7FFF0000, 0x50000 | errno.EPERM, 0x50000 | errno.ENOSYS
NUMBERS = {  # machine: {call: its number there}, asm/unistd.h
    "x86_64": {"read": 0, "clone": 56, "fork": 57, "vfork": 58, "clone3": 435},
    "aarch64": {"read": 63, "clone": 220, "clone3": 435},
}


@pytest.mark.parametrize("machine", system.CALLS)
def test_the_filter_refuses_every_new_process_and_no_thread(machine):
    """Each machine's program, run here by a small interpreter (ARM64's too): a thread's
    clone and every other call pass; a process's clone, fork and vfork are refused; clone3
    is said missing, so that the C library falls back to clone; another convention's calls
    (i386's on x86-64, x32's) are refused."""
    program = system.no_forks_filter(machine)
    arch, calls = system.CALLS[machine].arch, NUMBERS[machine]
    assert verdict(program, arch, calls["read"]) == ALLOW
    assert verdict(program, arch, calls["clone"], system.CLONE_THREAD | 0x3D0F00) == ALLOW
    assert verdict(program, arch, calls["clone"], 0x1200011) == DENIED  # glibc's fork
    assert verdict(program, arch, calls["clone"], 0x4111) == DENIED  # posix_spawn's vfork
    assert verdict(program, arch, calls["clone3"]) == MISSING
    for call in ("fork", "vfork"):
        if call in calls:
            assert verdict(program, arch, calls[call]) == DENIED
    assert verdict(program, 0x40000003, 2) == DENIED  # i386's fork
    assert verdict(program, arch, 0x40000000 | calls["clone"]) == DENIED  # x32's


FORBIDDEN = """import os, queue, subprocess, sys, threading
from ch9_shared.system import forbid_new_processes
asked, ran = queue.Queue(), []
def fork():
    if os.fork() == 0:
        os._exit(0)
def starts():
    while (start := asked.get()) is not None:
        try:
            start()
            ran.append("a process")
        except PermissionError:
            pass
before = threading.Thread(target=starts)
before.start()
assert forbid_new_processes() is None
thread = threading.Thread(target=ran.append, args=["a thread"])
thread.start()
thread.join()
for start in (fork, lambda: subprocess.Popen(["true"]).wait(),
              lambda: os.posix_spawn("/bin/true", ["true"], {})):
    asked.put(start)  # from a thread that began before the filter
    try:
        start()
        ran.append("a process")
    except PermissionError:
        pass
asked.put(None)
before.join()
print(*ran, sep=", ")
"""


@pytest.mark.skipif(not has_process_filter(), reason="a seccomp filter: Linux on "
                    "x86-64 or ARM64")
def test_linux_forbids_new_processes_but_not_threads():
    """In this thread and in one that began before the filter: fork, subprocess and
    posix_spawn raise PermissionError; a new thread runs."""
    ran = subprocess.run([sys.executable, "-c", FORBIDDEN], capture_output=True,
                         encoding="utf-8", timeout=60, env={**os.environ, "PYTHONPATH": str(
                             Path(system.__file__).parent.parent)})
    assert (ran.returncode, ran.stdout) == (0, "a thread\n"), ran.stderr


def test_without_proc_there_is_no_tree_and_no_cpu_clock(monkeypatch, tmp_path):
    """macOS and Windows have no /proc: no processes are found, none is killed but the
    child (kill_group), and the time limits fall back to the wall clock."""
    monkeypatch.setattr(system, "PROC", tmp_path / "no_proc")
    assert not system.has_proc() and system.processes() == {}
    assert system.descendants(os.getpid()) == [] and system.end_orphans(set()) == 0
    assert system.cpu_seconds(os.getpid()) is None
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                               **system.new_group_options())
    system.kill_tree(process)
    assert process.returncode not in (None, 0)


LINUX = pytest.mark.skipif(not system.has_proc() or not sys.platform.startswith("linux"),
                           reason="Linux: /proc and a subreaper")
DAEMON = ("import os, sys, time\n"
          "if os.fork() == 0:\n"
          "    os.setsid()\n"
          "    if os.fork() == 0:\n"
          "        print(os.getpid(), flush=True)\n"
          "        time.sleep(60)\n"
          "    os._exit(0)\n"
          "os.wait()\n"
          "time.sleep(60)\n")
"""A child that leaves a daemon: a grandchild of its own session, whose parent has ended."""


@LINUX
def test_linux_ends_a_daemon_that_left_its_session():
    """The daemon is handed to this process (a subreaper), which kill_tree misses (it left
    the child's tree and group) and end_orphans finds."""
    assert system.become_subreaper() is None
    process = subprocess.Popen([sys.executable, "-c", DAEMON], stdout=subprocess.PIPE,
                               **system.new_group_options())
    daemon = int(process.stdout.readline())
    system.kill_tree(process)
    assert system.processes()[daemon][0] == os.getpid()  # an orphan, handed to us
    assert system.end_orphans({process.pid}) >= 1  # with any another test left here
    assert daemon not in system.processes()


@LINUX
def test_linux_counts_a_childs_cpu_time():
    """A child that has used half a second of CPU time, then waits: its clock says so."""
    process = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                                "t = time.process_time()\n"
                                "while time.process_time() - t < 0.5: pass\n"
                                "print(1, flush=True)\nsys.stdin.read()"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdout.readline() == b"1\n"
    assert 0.5 <= system.cpu_seconds(process.pid) < 60
    process.communicate(timeout=60)
    assert system.cpu_seconds(process.pid) is None  # gone, and reaped
