"""Grade a file of answers in a child process: its code runs there, every verdict is ours.

    grade_file(path, limits) -> Graded     (the parent: scripts/check_exercises.py)
    python exercises/child.py ...          (the child: started by grade_file, never by hand)

The child (exercises/child.py, a script of its own: NumPy, and torch for the autograd
track) refuses to import the project, loads the answers, says which blanks they define, and
runs the calls this process asks for, one at a time: each exercise's inputs, computed here
with every reference before any answer runs. It sends back only NumPy arrays, framed as
`.npz` bytes, on its own standard output, which a thread of this process reads. What it
sends is untrusted data (`untrusted_message`): bounded before it is read (its length, each
member's header; nothing compressed), every array of a plain dtype (booleans, integers,
floats of at most 64 bits, short texts), and each call's arrays under that call's tag
alone. This process picks the track (the one whose blanks the file defines,
choose_tracks), compares the arrays with the project's tensors and decides every verdict
and the exit status, so nothing in the file can make an exercise pass but tensors that are
right; whatever goes wrong while judging one is that exercise's line ("could not be
judged: ...").

Limits (docs/exercises.md has the numbers): each call of an answer has `time` seconds of
the child's CPU time, counted by the operating system from the moment this process asks
for the call (a message cannot restart it), importing the file `start`; each wait also has
a wall-clock backstop (Limits.backstop); the whole file has `file_budget` seconds of its
children's CPU time, and that budget's backstop of wall-clock time, after which what did
not run says so (NOT_RUN). Where the system gives no child's CPU time (no /proc: macOS,
Windows) the limits are wall-clock time. Where the system enforces it (Linux), the child's
data segment is capped at `memory_mb` (RLIMIT_DATA) and its user's processes at `processes`
more (RLIMIT_NPROC); where it does not, the child grades without that cap and
Graded.unlimited says why. A hang or a crash fails that exercise alone: the parent kills the
child, with everything it started, and starts a fresh child at the next exercise; a signal
that stops the grader kills every child at once (end_every_process). On Linux the child
makes itself one that no other process of its user may trace or read (not_traceable), that
dies with the grader however it ends (die_with_parent) and, on x86-64 and ARM64, that may
start no process (forbid_new_processes); and this process is the subreaper of all the
answers start where they may, so that even a daemon that left its session is found and
killed (ch9_shared/system.py).

A verdict that another process or the machine's load could have caused (the child killed by
a signal the grader did not send, or stopped; a wall-clock backstop; the child dying before
it loads the file) is marked Graded.suspect: scripts/check_exercises.py grades that file
again alone, and only then is a fault before the answers load the grader's environment's
(Graded.environment), never the file's. check_environment finds the usual ones before any
file is graded.

With `user` (POSIX, run as root: the Gradescope autograder), the child runs in that user's
group alone, as the user id `uid` where one is given (one of ch9_shared.system.spare_uids
for each file graded at once, so that no file's answers can signal, trace or read another
file's), else as that user; it reads only what others may, and check_environment says
which of the solutions, the checks and the reference it could still read.

What this does not protect against (docs/exercises.md): without `user` the child runs as
the same user as the grader, with the teacher's rights; always with the same file system
and network as the parent; the answers can read what that user may, write files, and on
macOS and Windows leave processes running. It keeps a class's answers from hanging or
crashing the grader, deciding their own grades or another file's; it is no sandbox.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import queue
import re
import struct
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ch9_shared.npz import members
from ch9_shared.system import (
    become_subreaper,
    cpu_seconds,
    end_orphans,
    has_proc,
    how_it_ended,
    kill_tree,
    new_group_options,
    user_options,
)
from ch9_shared.threads import THREAD_VARIABLES
from exercises import TRACKS, exercise
from exercises import child as child_script
from exercises.child import SOURCE_CHARACTERS, Arrays, first_line, pack_calls, send, unpack
from exercises.depends import NOT_RUN, calls_in_file, dependency_order, with_causes
from exercises.grading import Result, judge, order_of, prepare

ROOT = Path(__file__).resolve().parent.parent
HEADER = struct.Struct("<Q")
MAX_MESSAGE = 16 << 20
"""The largest message the parent reads: the biggest call (train_step, float64) sends about
2.5 MB."""
MAX_ARRAYS = 64
"""The most arrays a message may hold: a call sends at most a dozen."""
MAX_TEXT = 4096
"""The most characters of text an array may hold (a line of what an answer raised)."""
MAX_PRINTED = 4096
"""The bytes of what the answers print that the parent keeps (the last ones)."""
NONSENSE = "the grader's process sent what is not a message"


@dataclass(frozen=True)
class Limits:
    """What a child may use: CPU seconds a call of an answer (`time`), to import the file
    (`start`) and for the whole file, all its children together (`file_budget`), each with
    a wall-clock backstop (`backstop`: the file's is 450 s, inside Gradescope's 10
    minutes); MiB of data; processes it may add; the user it runs as (None: this
    process's), and the user id it runs as in that user's group (None: that user's own);
    the track(s) to grade (None: the one the file defines); the exercises to grade (`only`;
    none: every one of the tracks, else those, on their tracks)."""

    time: float = 10.0
    start: float = 60.0
    file_budget: float = 150.0
    memory_mb: int = 4096
    processes: int = 256
    dtype: str = "float64"
    user: str | None = None
    uid: int | None = None
    track: str | None = None
    only: tuple[str, ...] = ()

    def backstop(self, seconds: float) -> float:
        """The wall-clock limit of a wait of `seconds` CPU seconds: an answer that sleeps or
        waits uses no CPU time. Three times as long, and at least 30 s more."""
        return max(3 * seconds, seconds + 30)


@dataclass
class Graded:
    """A file's grades: its track(s) and one Result an exercise, or why it has none."""

    path: Path
    tracks: list[str] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    error: str | None = None  # the file could not be imported: no exercise was graded
    environment: str | None = None  # the grader's environment failed it (and so error)
    unlimited: str | None = None  # why the child ran without the memory limit, if it did
    suspect: str | None = None  # what, not the file, may have decided a verdict: grade alone
    only: tuple[str, ...] = ()  # the exercises graded, where not every one of its tracks

    @property
    def passed(self) -> int:
        return sum(result.passed for result in self.results)

    @property
    def total(self) -> int:
        return len(self.results) or len(self.only) or len(TRACKS["backprop"])

    @property
    def all_passed(self) -> bool:
        return self.error is None and self.passed == self.total


# The child.

# What the child is sent: the calls of each exercise (exercises/child.py runs them).

CHILD = Path(child_script.__file__)
"""The child's script: NumPy (and torch), never the reference or the checks."""


def calls_message(names: list[str], dtype: str, order: int) -> tuple[dict, Arrays]:
    """The message that tells the child which exercises to run and how: each one's calls,
    shuffled by `order` (the file's), their inputs computed here, with every reference and
    catalogue of mistakes, before the answers run."""
    exercises = [exercise(name) for name in names]
    prepare(exercises, dtype)
    return pack_calls({one.name: one.calls(dtype, order) for one in exercises})


def load_checks(tracks: Iterable[str] = tuple(TRACKS)) -> None:
    """Import the tracks' checks (the autograd track's where torch is here) before any
    answer runs: an answer that rewrites exercises/*_checks.py then changes nothing. The
    backprop track's alone import no torch."""
    import importlib
    for track in tracks:
        try:
            importlib.import_module(f"exercises.{track}_checks")
        except ImportError:  # torch missing or broken: the autograd track cannot be graded
            if track != "autograd":
                raise


def tracks_to_grade(defined: Iterable[str], limits: Limits) -> list[str]:
    """The track(s) of the exercises `limits.only` names, else choose_tracks'."""
    if limits.only:
        return [track for track, names in TRACKS.items() if set(names) & set(limits.only)]
    return choose_tracks(defined, limits.track)


def names_to_grade(tracks: list[str], limits: Limits, calls: dict[str, tuple[str, ...]]
                   ) -> list[str]:
    """The exercises of the tracks to grade (`limits.only`'s, and those they call: the
    cause of their failure), each after those it calls (exercises/depends.py)."""
    names = [name for track in tracks for name in TRACKS[track]]
    if limits.only:
        kept = {*limits.only, *(callee for name in limits.only for callee in calls.get(name, ()))}
        names = [name for name in names if name in kept]
    return dependency_order(names, calls)


def file_order(path: Path) -> int:
    """The order of the file's calls, from its bytes: the same file, the same verdicts."""
    try:
        return order_of(path.read_bytes())
    except OSError:
        return 0


class ChildGone(Exception):
    """The child ended, hung or sent what is not a message; the text says which. `suspect`
    where something else than the file may have caused it (a signal, a stop, the load)."""

    def __init__(self, reason: str, suspect: bool = False):
        super().__init__(reason)
        self.reason, self.suspect = reason, suspect


class OutOfTime(ChildGone):
    """The file's time (Limits.file_budget) ran out while the child was at work."""


def _plain(dtype: np.dtype) -> bool:
    """Whether an array of `dtype` may come from the child: booleans, integers, floats of at
    most 64 bits, text; never objects, records, complex or longdouble numbers."""
    if dtype.fields is not None or dtype.subdtype is not None:
        return False
    return (dtype.kind in "biuf" and dtype.itemsize <= 8) or dtype.kind == "U"


def untrusted_message(data: bytes) -> tuple[dict[str, object], Arrays]:
    """(meta, arrays) of a message from the child, every byte checked before it is used;
    ChildGone(NONSENSE) if it is not a message: members stored, not compressed, each exactly
    as long as its header says, of a plain dtype, texts short, arrays few, the meta a JSON
    object; the arrays in this machine's byte order."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if len(archive.infolist()) > MAX_ARRAYS:
                raise ValueError("too many arrays")
            for member in members(archive):
                if (member.info.compress_type != zipfile.ZIP_STORED
                        or member.info.file_size != member.header_bytes + member.data_bytes
                        or not _plain(member.dtype)
                        or (member.dtype.kind == "U" and member.data_bytes > 4 * MAX_TEXT)):
                    raise ValueError(f"{member.name}: not an array the child sends")
        meta, arrays = unpack(data)
    except Exception:
        raise ChildGone(NONSENSE) from None
    return meta, {key: value.astype(value.dtype.newbyteorder("="), copy=False)
                  for key, value in arrays.items()}


LIVE: dict[int, subprocess.Popen] = {}
"""The children this process started and has not yet killed, by pid: every other process
handed to it as an orphan (it is a subreaper, ch9_shared.system.become_subreaper) is an
answer's."""
STARTING = threading.Lock()
"""Held while a child starts and while orphans are ended, so that a child just started is
never taken for an orphan."""
STOPPED = threading.Event()
"""Set while the grader is stopping (a signal, end_every_process): no child starts then."""


class Stopped(Exception):
    """A child was to start after the grader began to stop."""


def start_process(argv: list[str], **options: object) -> subprocess.Popen:
    """Popen(argv), the process counted in LIVE until `end_process` ends it; Stopped once
    the grader is stopping."""
    with STARTING:
        if STOPPED.is_set():
            raise Stopped("the grader is stopping")
        process = subprocess.Popen(argv, **options)
        LIVE[process.pid] = process
    return process


def end_process(process: subprocess.Popen) -> None:
    """Kill the process and all it started (on Linux even what left its session: a daemon),
    and reap them."""
    kill_tree(process)
    with STARTING:
        LIVE.pop(process.pid, None)
        end_orphans(set(LIVE))


def end_all_orphans() -> None:
    """Kill every process an answer started that is still alive (none, once every file is
    graded): the gradebook files are written after this. The grading is over: a later one
    in this process may start children again, even after end_every_process."""
    with STARTING:
        end_orphans(set(LIVE))
        STOPPED.clear()


def end_every_process() -> None:
    """Kill every child, with all it started, and start no more: the grader is stopping (a
    signal), so its threads' waits for the answers end now, not when their time runs out."""
    with STARTING:
        STOPPED.set()
        for process in list(LIVE.values()):
            kill_tree(process)
        end_orphans(set())


def child_environment(limits: Limits) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    for name in THREAD_VARIABLES:  # one thread a child: a class is graded in parallel
        env[name] = "1"
    return env


def child_options(limits: Limits) -> dict[str, object]:
    return dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=child_environment(limits), **new_group_options(),
                **(user_options(limits.user, limits.uid) if limits.user else {}))


NEEDED = """import importlib.util, json, sys
import numpy
import ch9_shared.system
if sys.argv[1] == "torch" and importlib.util.find_spec("torch") is None:
    raise ImportError("No module named 'torch'")
readable = []
for path in sys.argv[2:]:
    try:
        with open(path, "rb") as file:
            file.read(1)
        readable.append(path)
    except OSError:
        pass
print(json.dumps(readable))
"""
"""What the answers' process needs: NumPy, the project's system module (the child's
limits), and torch where this process has it (the autograd track); and which of the files
it is given it can read."""

KEPT_FROM_ANSWERS = ("exercises/*_solutions.py", "exercises/*_checks.py", "exercises/grading.py",
                     "exercises/runner.py", "exercises/hints.py", "exercises/__init__.py",
                     "numpy_impl/*.py", "torch_impl/*.py", "scripts/*.py")
"""What an answer run as another user (Limits.user) must not read: the solutions, the checks,
the hints, the grader and the reference (the child needs exercises/child.py and
ch9_shared/ alone)."""


def kept_from_answers() -> list[Path]:
    return [path for pattern in KEPT_FROM_ANSWERS for path in sorted(ROOT.glob(pattern))]


def check_environment(limits: Limits) -> tuple[str | None, str | None]:
    """(why the answers' process cannot start here, or cannot import what grading needs
    (as limits.user where one is named), with the fix; what it could read that it must not,
    with the fix), each None where all is well. Run once before any file is graded: a fault
    of the grader's environment is never a student's."""
    import importlib.util
    who = f"the user {limits.user}" if limits.user else "the answers' process"
    python = sys.executable
    if os.path.realpath(python) != python:
        python += f", that is {os.path.realpath(python)}"
    torch = "torch" if importlib.util.find_spec("torch") is not None else "-"
    kept = [str(path) for path in kept_from_answers()] if limits.user else []
    try:
        process = start_process([sys.executable, "-c", NEEDED, torch, *kept],
                                **child_options(limits) | dict(stdin=subprocess.DEVNULL))
    except PermissionError:
        return (f"{who} cannot run this Python ({python}): it lives in a folder that "
                "user may not enter; install Python where every user can run it (not under "
                "/root), or let others into its folders (chmod a+rx)"), None
    except OSError as e:
        return f"the answers' process cannot start ({e.strerror or e}): {sys.executable}", None
    try:
        out, err = process.communicate(timeout=limits.backstop(limits.start))
    except subprocess.TimeoutExpired:
        return (f"the answers' process did not start within {limits.backstop(limits.start):g} "
                "s: is the machine overloaded?"), None
    finally:
        end_process(process)
    if process.returncode != 0:
        lines = err.decode("utf-8", "replace").strip().splitlines() or [
            f"exit status {process.returncode}"]
        fix = (f"install them where {who} can read them (a venv outside /root, chmod -R a+rX)"
               if limits.user else "install them in this Python's environment (pip install "
               "-e .)")
        return f"{who} cannot import what grading needs ({squeezed(lines[-1])}): {fix}", None
    try:
        said = json.loads(out)
    except ValueError:
        said = None
    said = said if isinstance(said, list) else kept
    readable = [Path(path).relative_to(ROOT).as_posix() for path in kept if path in said]
    if not readable:
        return None, None
    more = f" and {len(readable) - 1} more of the project's files" if len(readable) > 1 else ""
    return None, (f"{who} can read {readable[0]}{more}, which the answers must not: make them "
                  "unreadable to others, as scripts/autograder/run_autograder does (chmod -R "
                  "go-rwx numpy_impl torch_impl scripts, and every exercises/*.py but "
                  "child.py)")


class Child:
    """One child process, grading one file from exercise `start` on, until `deadline` (the
    file's wall-clock backstop, on time.monotonic's clock) or until it has used the CPU time
    the file has left after `spent`; with `torch`, importing torch first (the autograd
    track: exercises/child.py's WARM)."""

    def __init__(self, path: Path, limits: Limits, start: int, deadline: float = float("inf"),
                 spent: float = 0.0, torch: bool = False):
        self.limits, self.deadline, self.spent = limits, deadline, spent
        self.started, self.cpu = time.monotonic(), 0.0
        self.process = start_process(
            [sys.executable, str(CHILD), str(path), str(limits.memory_mb),
             str(limits.processes), *(["torch"] if torch else [])], **child_options(limits))
        self.chunks: queue.Queue[bytes] = queue.Queue(maxsize=64)
        self.buffer = bytearray()
        self.ended = False  # the reader has reached the channel's end
        self.output: collections.deque[bytes] = collections.deque()
        threading.Thread(target=self._pump, daemon=True).start()
        self.capturing = threading.Thread(target=self._capture, daemon=True)
        self.capturing.start()

    def _pump(self) -> None:
        """Move what the child writes into the queue (b"" at its end): the parent then waits
        with a deadline on the queue, where Windows has no select() for a pipe. The queue is
        bounded, so a child that floods the channel waits for the parent."""
        with self.process.stdout as stdout:
            while chunk := stdout.read1(1 << 20):
                self.chunks.put(chunk)
        self.chunks.put(b"")

    def _capture(self) -> None:
        """Keep the last MAX_PRINTED bytes of what the answers print (their standard output
        and error): never the grader's own output."""
        kept = 0
        with self.process.stderr as stderr:
            while chunk := stderr.read1(1 << 16):
                self.output.append(chunk[-MAX_PRINTED:])
                kept += len(self.output[-1])
                while kept - len(self.output[0]) >= MAX_PRINTED:
                    kept -= len(self.output.popleft())

    def printed(self) -> str:
        """The last line the answers printed, escaped and trimmed, as a note: "" if none."""
        self.capturing.join(timeout=2)  # all of it, once the child is gone
        lines = b"".join(self.output).decode("utf-8", "replace").strip().splitlines()
        if not lines:
            return ""
        line = lines[-1].encode("unicode_escape").decode("ascii")
        return f"; the last line it printed: {squeezed(line, 120)}"

    def _read(self, size: int, seconds: float, began: tuple[float, float | None]) -> bytes:
        """`size` bytes, or ChildGone once the child has used `seconds` of CPU time since
        `began` (the wall clock's time and the child's CPU time then), its wall-clock
        backstop has passed, or the file's time has run out."""
        backstop = began[0] + self.limits.backstop(seconds)
        while len(self.buffer) < size:
            now = time.monotonic()
            used = self.used()
            if self.spent + used >= self.limits.file_budget:
                raise OutOfTime("still running when the file's time ran out (a file has "
                                f"{self.limits.file_budget:g} s of CPU time)")
            if now >= self.deadline:
                raise OutOfTime("still running when the file's wall-clock time ran out "
                                f"({self.limits.backstop(self.limits.file_budget):g} s)",
                                suspect=True)
            if now >= backstop:
                raise ChildGone(f"still running after {now - began[0]:.0f} s of wall-clock "
                                "time (waiting for something?)", suspect=True)
            if began[1] is not None and used - began[1] >= seconds:
                raise ChildGone(f"still running after {seconds:g} s of CPU time (an endless "
                                "loop?)")
            if began[1] is None and now - began[0] >= seconds:  # no CPU clock here: the wall's
                raise ChildGone(f"still running after {seconds:g} s (an endless loop?)",
                                suspect=True)
            try:
                chunk = self.chunks.get(timeout=min(0.1, max(0.0, min(
                    self.deadline, backstop) - now)))
            except queue.Empty:
                continue
            if not chunk:
                self.ended = True
                raise self._ended()
            self.buffer += chunk
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def _ended(self) -> ChildGone:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return ChildGone("it closed the grader's channel")
        crash = how_it_ended(code)
        if crash:  # a signal: its own, or another process's
            return ChildGone(f"it crashed the grader's process ({crash}){self.printed()}",
                             suspect=True)
        return ChildGone(f"it ended the grader's process (exit status {code}): an answer "
                         f"returns its result, it does not exit{self.printed()}")

    def receive(self, seconds: float, began: tuple[float, float | None] | None = None
                ) -> tuple[dict[str, object], Arrays]:
        """The next message, within `seconds` of the child's CPU time since `began` (now,
        by default; where the system tells no CPU time, of wall-clock time) and the
        wall-clock backstop, checked (untrusted_message); ChildGone if none comes."""
        began = began or self.now()
        (size,) = HEADER.unpack(self._read(HEADER.size, seconds, began))
        if size > MAX_MESSAGE:
            raise ChildGone(NONSENSE)
        return untrusted_message(self._read(size, seconds, began))

    def ask(self, meta: dict[str, object], seconds: float) -> tuple[dict[str, object], Arrays]:
        """Send a request and receive its answer, timed from before it is sent."""
        began = self.now()
        self.send(meta)
        return self.receive(seconds, began)

    def now(self) -> tuple[float, float | None]:
        """The wall clock's time and the child's CPU time (None where the system tells none)."""
        return time.monotonic(), cpu_seconds(self.process.pid)

    def used(self) -> float:
        """The CPU time this child has used: the operating system's count, the last one read
        once the child is gone; wall-clock time since it started only where the system
        counts none (no /proc), never because of the load."""
        used = cpu_seconds(self.process.pid)
        if used is not None:
            self.cpu = used
        elif not has_proc():
            return time.monotonic() - self.started
        return self.cpu

    def send(self, meta: dict[str, object], arrays: Arrays | None = None) -> None:
        """A message to the child, on its standard input, written by a thread of its own
        (the calls are megabytes: a child that stops reading must not stop the grader);
        ChildGone if the child is gone, or has not read it within the backstop of `start`."""
        failed: list[BaseException] = []

        def write() -> None:
            try:
                send(self.process.stdin, meta, arrays)
            except (OSError, ValueError) as e:  # a broken pipe, or closed by close()
                failed.append(e)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join(min(self.limits.backstop(self.limits.start),
                        max(0.0, self.deadline - time.monotonic())))
        if writer.is_alive():
            if time.monotonic() >= self.deadline:
                raise OutOfTime("still running when the file's wall-clock time ran out "
                                f"({self.limits.backstop(self.limits.file_budget):g} s)",
                                suspect=True)
            raise ChildGone("it stopped reading the grader's channel", suspect=True)
        if failed:
            raise self._ended()

    def close(self) -> float:
        """End the child and everything it started, then let the reader finish; the CPU
        time it used."""
        used = self.used()
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        end_process(self.process)
        while not self.ended:  # let the reader reach the channel's end
            try:
                self.ended = not self.chunks.get(timeout=1)
            except queue.Empty:
                break  # a process outside the group holds the channel open
        return used


def squeezed(text: object, limit: int = 300) -> str:
    """`text` with every run of white space one space, cut to `limit` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def verdict(name: str, arrays: Arrays, dtype: str, file: str | None = None) -> Result:
    """The parent's verdict on one exercise's arrays (an answer that raised, told at its
    line in `file`, the learner's name for the graded file); whatever goes wrong while
    judging them is that exercise's line, never the run's end."""
    try:
        return judge(exercise(name), arrays, dtype, file)
    except Exception as e:
        return Result(name, "failed", f"failed: could not be judged: {squeezed(first_line(e))}")


def made_by(call: dict[str, object], name: str, number: int, meta: dict[str, object],
            arrays: Arrays) -> Arrays:
    """The arrays of the answer to call `number` of exercise `name`: ChildGone(NONSENSE)
    unless the message is that answer, its arrays under that call's tag alone."""
    tag = str(call["tag"])
    if meta != {"kind": "made", "name": name, "call": number} or not all(
            key.startswith(tag) and ":" not in key[len(tag):] for key in arrays):
        raise ChildGone(NONSENSE)
    return arrays


TRACK_CHOICES = ("backprop", "autograd", "both")
"""The track(s) a teacher may name (`track`); by default the file's own (choose_tracks)."""


def choose_tracks(defined: Iterable[str], wanted: str | None = None) -> list[str]:
    """The track(s) a file is graded on: `wanted` (backprop, autograd or both) where the
    teacher names it; else both where the file defines each track's every blank, else the
    one of which it defines the larger share (backprop on a tie, and where it defines none):
    a helper named like another track's exercise changes nothing."""
    if wanted is not None:
        return list(TRACKS) if wanted == "both" else [wanted]
    defined = set(defined)
    shares = {track: len(defined & set(names)) / len(names) for track, names in TRACKS.items()}
    if min(shares.values()) == 1:
        return list(TRACKS)
    return [max(shares, key=lambda track: shares[track])]  # the first of the best


DEFINED = re.compile(r"^(?:(?:def|class)\s+(\w+)|(\w+)\s*=)", re.MULTILINE)


def file_text(path: Path) -> str:
    """The file's text ("" if it cannot be read)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def defined_in_text(path: Path) -> set[str]:
    """The names a file defines at its top level, read from its text: for a file whose
    import failed (so that never told), and the track(s) to expect before it runs."""
    return {a or b for a, b in DEFINED.findall(file_text(path))}


def where_import_failed(meta: dict[str, object], path: Path) -> str:
    """Where in the file its import raised, from the child's message (checked: untrusted):
    " (FILE, line N: TEXT)", or ""."""
    line, source = meta.get("line"), meta.get("source")
    if not isinstance(line, int) or isinstance(line, bool):
        return ""
    text = squeezed(source, SOURCE_CHARACTERS) if isinstance(source, str) else ""
    return f" ({path}, line {line}: {text})" if text else f" ({path}, line {line})"


ENVIRONMENT = "the grader's environment, not the answers"
"""What a fault before the answers load is."""


def grade_file(path: Path, limits: Limits = Limits(), copy: Path | None = None) -> Graded:
    """Grade every exercise of the file's track(s) (its `copy`'s, where one is given:
    private_copies), in as many children as it takes, each
    call of an answer asked for and timed alone, within the file's time (limits.file_budget
    of CPU time, and its wall-clock backstop): an exercise that did not run then fails with
    NOT_RUN. A child that ends before it loads the answers is the grader's environment's
    fault (Graded.environment), never the file's; that, and whatever else another process
    or the load may have caused, is Graded.suspect. Each exercise is graded after those it
    calls, and one that fails where one it calls fails too is told so first
    (exercises/depends.py); with `limits.only`, the results are those exercises' alone."""
    become_subreaper()
    source = copy or path
    calls = calls_in_file(file_text(source))
    graded = _graded(path, source, limits, calls)
    graded.results = with_causes(graded.results, calls)
    if limits.only:
        graded.results = [result for result in graded.results if result.name in limits.only]
    return graded


def _graded(path: Path, source: Path, limits: Limits, calls: dict[str, tuple[str, ...]]
            ) -> Graded:
    """grade_file's grades of the file's `source`, each result as judged alone. The checks
    of the track(s) its text defines are imported while its first child starts (and
    imports torch, for the autograd track), before that child loads the answers."""
    expected = tracks_to_grade(defined_in_text(source), limits)
    graded, names, start, spent = Graded(path, only=limits.only), None, 0, 0.0
    defined: set[str] = set()
    order = file_order(source)
    deadline = time.monotonic() + limits.backstop(limits.file_budget)

    def give_up(reason: str) -> Graded:
        if names is None:
            graded.tracks = expected
            graded.error = f"cannot be imported: {reason}"
        else:
            graded.results += [Result(n, "failed", f"failed: {reason}") for n in names[start:]]
        return graded

    def gone(why: ChildGone) -> str:
        if why.suspect and graded.suspect is None:
            graded.suspect = why.reason
        return why.reason

    def not_run() -> Graded:
        why = f"{NOT_RUN} (a file has {limits.file_budget:g} s of CPU time)"
        graded.results += [Result(n, "failed", why) for n in names[start:]]
        return graded

    while names is None or start < len(names):
        if names is not None and (time.monotonic() >= deadline
                                  or spent >= limits.file_budget):
            return not_run()
        child = Child(source, limits, start, deadline, spent, torch="autograd" in expected)
        try:
            load_checks(expected)  # while the child starts: the answers wait for the tracks
            try:
                child.send({"tracks": {track: list(every) for track, every in TRACKS.items()}})
                meta, _ = child.receive(limits.start)
            except ChildGone as before:
                if isinstance(before, OutOfTime) and names is not None:
                    return not_run()  # a later child's start: the file's time, not the grader
                graded.environment = f"{ENVIRONMENT}: the grader's process ended before it " \
                                     f"loaded the file: {before.reason}"
                graded.error = graded.suspect = graded.environment
                return graded
            if meta != {"kind": "loading"}:
                return give_up(NONSENSE)
            try:
                meta, _ = child.receive(limits.start)
            except ChildGone as why:
                if isinstance(why, OutOfTime) and names is not None:
                    return not_run()
                return give_up(gone(why))
            if isinstance(meta.get("unlimited"), str):
                graded.unlimited = squeezed(meta["unlimited"])
            if meta.get("kind") == "import failed":
                return give_up(squeezed(meta.get("error", "")) + where_import_failed(meta, path))
            said = meta.get("defined")
            if meta.get("kind") != "ready" or not (
                    isinstance(said, list) and all(isinstance(n, str) for n in said)):
                return give_up(NONSENSE)
            defined = set(said)
            if names is None:
                graded.tracks = tracks_to_grade(defined, limits)
                names = names_to_grade(graded.tracks, limits, calls)
            message, arrays = calls_message(names[start:], limits.dtype, order)
            child.send(message, arrays)
            for name in names[start:]:
                start += 1
                if name not in defined:
                    graded.results.append(Result(name, "not done",
                                                 f"not done yet ({name} is not defined)"))
                    continue
                made: Arrays = {}
                try:
                    for number, call in enumerate(message["calls"][name]):
                        made |= made_by(call, name, number, *child.ask(
                            {"kind": "run", "name": name, "call": number}, limits.time))
                except ChildGone as why:
                    graded.results.append(Result(name, "failed", f"failed: {gone(why)}"))
                    break
                graded.results.append(verdict(name, made, limits.dtype, str(path)))
        except ChildGone as why:  # it ended before it read the tracks or the calls
            return give_up(gone(why))
        finally:
            spent += child.close()
    return graded


def private_copies(paths: list[Path], folder: Path) -> dict[Path, Path]:
    """Each file of answers copied, before any answer runs, into a folder of its own under
    `folder` (which others may enter, not list): a file is graded on its bytes as the grader
    found them, whatever another file's answers write meanwhile. OSError, naming the file,
    if one cannot be read or its copy written (a full disk, the file-size limit)."""
    folder.chmod(0o711)
    copies = {}
    for number, path in enumerate(paths):
        own = folder / str(number)
        own.mkdir(mode=0o700)
        copies[path] = own / path.name
        data = path.read_bytes()
        try:
            copies[path].write_bytes(data)
        except OSError as e:
            raise OSError(e.errno, e.strerror, str(copies[path])) from None
    return copies


@contextlib.contextmanager
def lent(copy: Path, limits: Limits) -> Iterator[None]:
    """The copy and its folder, the answers' user's while its file is graded (as root, with
    limits.user: that user, or its user id limits.uid, alone may read it), then taken back."""
    if limits.user is None:
        yield
        return
    options = user_options(limits.user, limits.uid)
    for owned in (copy.parent, copy):
        os.chown(owned, options["user"], options["group"])
    try:
        yield
    finally:
        for owned in (copy.parent, copy):
            os.chown(owned, os.getuid(), os.getgid())


def could_not_be_judged(path: Path, error: BaseException, limits: Limits) -> Graded:
    """A file whose grading failed in the grader itself: its own line, never the run's end."""
    graded = Graded(path, tracks_to_grade(defined_in_text(path), limits), only=limits.only)
    graded.error = f"could not be judged: {squeezed(first_line(error))}"
    return graded
