"""Grade a file of answers in a child process: its code runs there, every verdict is ours.

    grade_file(path, limits) -> Graded     (the parent: scripts/check_exercises.py)
    python exercises/child.py ...          (the child: started by grade_file, never by hand)

The child (exercises/child.py, a script of its own: NumPy, and torch for the autograd
track) refuses to import the project, loads the answers, says which blanks they define, and
runs the calls this process sends it: each exercise's inputs, computed here with every
reference before any answer runs. It sends back only NumPy arrays, framed as `.npz` bytes,
or the line of what the answer raised (read with allow_pickle=False), on its own standard
output, which a thread of this process reads. This process picks the track (the one whose
blanks the file defines, choose_tracks), compares the arrays with the project's tensors and
decides every verdict and the exit status, so nothing in the file can make an exercise pass
but tensors that are right.

Limits (docs/exercises.md has the numbers): each call of an answer has `time` seconds of
the child's CPU time (the child says when it starts the next), importing the file `start`;
each wait also has a wall-clock backstop (Limits.backstop); the whole file has `file_budget`
seconds of its children's CPU time, and that budget's backstop of wall-clock time, after
which what did not run says so (NOT_RUN). So a verdict does not depend on the machine's
load, short of the backstops. Where the
system gives no child's CPU time (no /proc: macOS, Windows) the limits are wall-clock time.
Where the system enforces it (Linux), the child's data segment is capped at `memory_mb`
(RLIMIT_DATA) and its user's processes at `processes` more (RLIMIT_NPROC); where it does not,
the child grades without that cap and Graded.unlimited says why. A hang or a crash fails
that exercise alone: the parent kills the child, with everything it started, and starts a
fresh child at the next exercise. On Linux this process is the subreaper of all the answers
start, so that even a daemon that left its session is found and killed (ch9_shared/system.py).

A fault before the answers load (the child cannot start, or dies before it says it is
loading them) is the grader's environment's (Graded.environment), never the file's;
check_environment finds the usual ones before any file is graded.

With `user` (POSIX, run as root: the Gradescope autograder), the child runs as that user,
in that user's group alone, so it reads only what that user may; the solutions and the
reference can be made unreadable to it.

What this does not protect against (docs/exercises.md): otherwise the child runs as the
same user, and always with the same file system and network as the parent; the answers can
read the project's files by path, write files, and on macOS and Windows leave processes
running. It keeps a class's answers from hanging or crashing the grader, reaching the
reference by import, or deciding their own grades; it is no sandbox.
"""

from __future__ import annotations

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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ch9_shared.system import (
    become_subreaper,
    cpu_seconds,
    end_orphans,
    how_it_ended,
    kill_tree,
    new_group_options,
    user_options,
)
from ch9_shared.threads import THREAD_VARIABLES
from exercises import TRACKS, exercise
from exercises import child as child_script
from exercises.child import Arrays, pack_calls, send
from exercises.grading import Result, judge, order_of, prepare

ROOT = Path(__file__).resolve().parent.parent
HEADER = struct.Struct("<Q")
MAX_MESSAGE = 64 << 20
"""The largest message the parent reads: the biggest exercise (train_step, float64, on both
configurations) sends about 4 MB."""
NONSENSE = "the grader's process sent what is not a message"


@dataclass(frozen=True)
class Limits:
    """What a child may use: CPU seconds a call of an answer (`time`), to import the file
    (`start`) and for the whole file, all its children together (`file_budget`), each with
    a wall-clock backstop (`backstop`: the file's is 450 s, inside Gradescope's 10
    minutes); MiB of data; processes it may add; the user it runs as (None: this
    process's); the track(s) to grade (None: the one the file defines)."""

    time: float = 10.0
    start: float = 60.0
    file_budget: float = 150.0
    memory_mb: int = 4096
    processes: int = 256
    dtype: str = "float64"
    user: str | None = None
    track: str | None = None

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

    @property
    def passed(self) -> int:
        return sum(result.passed for result in self.results)

    @property
    def total(self) -> int:
        return len(self.results) or len(TRACKS["backprop"])

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


def load_checks() -> None:
    """Import every track's checks (the autograd track's where torch is here) before any
    answer runs: an answer that rewrites exercises/*_checks.py then changes nothing."""
    import importlib
    for track in TRACKS:
        try:
            importlib.import_module(f"exercises.{track}_checks")
        except ImportError:  # torch missing or broken: the autograd track cannot be graded
            if track != "autograd":
                raise


def file_order(path: Path) -> int:
    """The order of the file's calls, from its bytes: the same file, the same verdicts."""
    try:
        return order_of(path.read_bytes())
    except OSError:
        return 0


class ChildGone(Exception):
    """The child ended, hung or sent what is not a message; the text says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class OutOfTime(ChildGone):
    """The file's time (Limits.file_budget) ran out while the child was at work."""


LIVE: set[int] = set()
"""The children this process started and has not yet killed: every other process handed to
it as an orphan (it is a subreaper, ch9_shared.system.become_subreaper) is an answer's."""
STARTING = threading.Lock()
"""Held while a child starts and while orphans are ended, so that a child just started is
never taken for an orphan."""


def start_process(argv: list[str], **options: object) -> subprocess.Popen:
    """Popen(argv), the process counted in LIVE until `end_process` ends it."""
    with STARTING:
        process = subprocess.Popen(argv, **options)
        LIVE.add(process.pid)
    return process


def end_process(process: subprocess.Popen) -> None:
    """Kill the process and all it started (on Linux even what left its session: a daemon),
    and reap them."""
    kill_tree(process)
    with STARTING:
        LIVE.discard(process.pid)
        end_orphans(LIVE)


def end_all_orphans() -> None:
    """Kill every process an answer started that is still alive (none, once every file is
    graded): the gradebook files are written after this."""
    with STARTING:
        end_orphans(LIVE)


def child_environment(limits: Limits) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    for name in THREAD_VARIABLES:  # one thread a child: a class is graded in parallel
        env[name] = "1"
    return env


def child_options(limits: Limits) -> dict[str, object]:
    return dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env=child_environment(limits), **new_group_options(),
                **(user_options(limits.user) if limits.user else {}))


NEEDED = """import importlib.util, sys
import numpy
import ch9_shared.system
if sys.argv[1] == "torch" and importlib.util.find_spec("torch") is None:
    raise ImportError("No module named 'torch'")
"""
"""What the answers' process needs: NumPy, the project's system module (the child's
limits), and torch where this process has it (the autograd track)."""


def check_environment(limits: Limits) -> str | None:
    """Why the answers' process cannot start here, or cannot import what grading needs
    (as limits.user where one is named), with the fix; None if it can. Run once before any
    file is graded: a fault of the grader's environment is never a student's."""
    import importlib.util
    who = f"the user {limits.user}" if limits.user else "the answers' process"
    python = sys.executable
    if os.path.realpath(python) != python:
        python += f", that is {os.path.realpath(python)}"
    torch = "torch" if importlib.util.find_spec("torch") is not None else "-"
    try:
        process = start_process([sys.executable, "-c", NEEDED, torch],
                                **child_options(limits) | dict(stdin=subprocess.DEVNULL,
                                                               stderr=subprocess.PIPE))
    except PermissionError:
        return (f"{who} cannot run this Python ({python}): it lives in a folder that "
                "user may not enter; install Python where every user can run it (not under "
                "/root), or let others into its folders (chmod a+rx)")
    except OSError as e:
        return f"the answers' process cannot start ({e.strerror or e}): {sys.executable}"
    try:
        _, err = process.communicate(timeout=limits.backstop(limits.start))
    except subprocess.TimeoutExpired:
        return (f"the answers' process did not start within {limits.backstop(limits.start):g} "
                "s: is the machine overloaded?")
    finally:
        end_process(process)
    if process.returncode != 0:
        lines = err.decode("utf-8", "replace").strip().splitlines() or [
            f"exit status {process.returncode}"]
        fix = (f"install them where {who} can read them (a venv outside /root, chmod -R a+rX)"
               if limits.user else "install them in this Python's environment (pip install "
               "-e .)")
        return f"{who} cannot import what grading needs ({one_line(lines[-1])}): {fix}"
    return None


class Child:
    """One child process, grading one file from exercise `start` on, until `deadline` (the
    file's wall-clock backstop, on time.monotonic's clock) or until it has used the CPU time
    the file has left after `spent`."""

    def __init__(self, path: Path, limits: Limits, start: int, deadline: float = float("inf"),
                 spent: float = 0.0):
        self.limits, self.deadline, self.spent = limits, deadline, spent
        self.started = time.monotonic()
        self.process = start_process(
            [sys.executable, str(CHILD), str(path), str(limits.memory_mb),
             str(limits.processes)], **child_options(limits))
        self.chunks: queue.Queue[bytes] = queue.Queue(maxsize=64)
        self.buffer = bytearray()
        self.ended = False  # the reader has reached the channel's end
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        """Move what the child writes into the queue (b"" at its end): the parent then waits
        with a deadline on the queue, where Windows has no select() for a pipe. The queue is
        bounded, so a child that floods the channel waits for the parent."""
        with self.process.stdout as stdout:
            while chunk := stdout.read1(1 << 20):
                self.chunks.put(chunk)
        self.chunks.put(b"")

    def _read(self, size: int, seconds: float, began: tuple[float, float | None]) -> bytes:
        """`size` bytes, or ChildGone once the child has used `seconds` of CPU time since
        `began` (the wall clock's time and the child's CPU time then), its wall-clock
        backstop has passed, or the file's time has run out."""
        backstop = began[0] + self.limits.backstop(seconds)
        while len(self.buffer) < size:
            now = time.monotonic()
            used = self.used()
            if now >= self.deadline or self.spent + used >= self.limits.file_budget:
                raise OutOfTime("still running when the file's time ran out (a file has "
                                f"{self.limits.file_budget:g} s of CPU time)")
            if now >= backstop:
                raise ChildGone(f"still running after {now - began[0]:.0f} s of wall-clock "
                                "time (waiting for something?)")
            if began[1] is not None and used - began[1] >= seconds:
                raise ChildGone(f"still running after {seconds:g} s of CPU time (an endless "
                                "loop?)")
            if began[1] is None and now - began[0] >= seconds:  # no CPU clock here: the wall's
                raise ChildGone(f"still running after {seconds:g} s (an endless loop?)")
            try:
                chunk = self.chunks.get(timeout=min(0.1, max(0.0, min(
                    self.deadline, backstop) - now)))
            except queue.Empty:
                continue
            if not chunk:
                self.ended = True
                raise ChildGone(self._ended())
            self.buffer += chunk
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def _ended(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "it closed the grader's channel"
        crash = how_it_ended(code)
        if crash:
            return f"it crashed the grader's process ({crash})"
        return f"it ended the grader's process (exit status {code}): an answer returns its " \
               "result, it does not exit"

    def receive(self, seconds: float) -> tuple[dict[str, object], Arrays]:
        """The next message, within `seconds` of the child's CPU time (where the system
        tells it; else of wall-clock time) and the wall-clock backstop; ChildGone if none
        comes."""
        began = (time.monotonic(), cpu_seconds(self.process.pid))
        (size,) = HEADER.unpack(self._read(HEADER.size, seconds, began))
        if size > MAX_MESSAGE:
            raise ChildGone(NONSENSE)
        data = self._read(size, seconds, began)
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
            meta = json.loads(str(arrays.pop("__meta__")))
        except Exception:
            raise ChildGone(NONSENSE) from None
        if not isinstance(meta, dict):
            raise ChildGone(NONSENSE)
        return meta, arrays

    def used(self) -> float:
        """The CPU time this child has used (where the system gives none: wall-clock time
        since it started)."""
        used = cpu_seconds(self.process.pid)
        return time.monotonic() - self.started if used is None else used

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
                raise OutOfTime("still running when the file's time ran out (a file has "
                                f"{self.limits.file_budget:g} s of CPU time)")
            raise ChildGone("it stopped reading the grader's channel")
        if failed:
            raise ChildGone(self._ended())

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


def one_line(text: object, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def verdict(name: str, meta: dict[str, object], arrays: Arrays, dtype: str) -> Result:
    """The parent's verdict on one exercise's message: the child's own word can only fail it."""
    if meta.get("kind") != "result" or meta.get("name") != name:
        return Result(name, "failed", f"failed: {NONSENSE}")
    if "status" in meta:
        status = "not done" if meta["status"] == "not done" else "wrong"
        message = one_line(meta.get("message", ""))
        if not message.startswith(status):
            message = f"{status}: {message}"
        return Result(name, status, message)
    return judge(exercise(name), arrays, dtype)


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


def defined_in_text(path: Path) -> set[str]:
    """The names a file defines at its top level, read from its text: for a file whose
    import failed (so that never told)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return {a or b for a, b in DEFINED.findall(text)}


ENVIRONMENT = "the grader's environment, not the answers"
"""What a fault before the answers load is."""
NOT_RUN = "not run: the file's time ran out"


def grade_file(path: Path, limits: Limits = Limits()) -> Graded:
    """Grade every exercise of the file's track(s), in as many children as it takes, within
    the file's time (limits.file_budget of CPU time, and its wall-clock backstop): an
    exercise that did not run then fails with
    NOT_RUN. A child that ends before it loads the answers is the grader's environment's
    fault (Graded.environment), never the file's."""
    become_subreaper()
    load_checks()
    graded, names, start, spent = Graded(path), None, 0, 0.0
    order = file_order(path)
    deadline = time.monotonic() + limits.backstop(limits.file_budget)

    def give_up(reason: str) -> Graded:
        if names is None:
            graded.tracks = choose_tracks(defined_in_text(path), limits.track)
            graded.error = f"cannot be imported: {reason}"
        else:
            graded.results += [Result(n, "failed", f"failed: {reason}") for n in names[start:]]
        return graded

    while names is None or start < len(names):
        if names is not None and (time.monotonic() >= deadline
                                  or spent >= limits.file_budget):
            why = f"{NOT_RUN} (a file has {limits.file_budget:g} s of CPU time)"
            graded.results += [Result(n, "failed", why) for n in names[start:]]
            return graded
        child = Child(path, limits, start, deadline, spent)
        try:
            try:
                child.send({"tracks": {track: list(every) for track, every in TRACKS.items()}})
                meta, _ = child.receive(limits.start)
            except ChildGone as gone:
                graded.environment = f"{ENVIRONMENT}: the grader's process ended before it " \
                                     f"loaded the file: {gone.reason}"
                graded.error = graded.environment
                return graded
            if meta.get("kind") != "loading":
                return give_up(NONSENSE)
            try:
                meta, _ = child.receive(limits.start)
            except ChildGone as gone:
                return give_up(gone.reason)
            if isinstance(meta.get("unlimited"), str):
                graded.unlimited = one_line(meta["unlimited"])
            if meta.get("kind") == "import failed":
                return give_up(one_line(meta.get("error", "")))
            if names is None:
                defined = meta.get("defined")
                if not (isinstance(defined, list) and all(isinstance(n, str) for n in defined)):
                    return give_up(NONSENSE)
                graded.tracks = choose_tracks(defined, limits.track)
                names = [name for track in graded.tracks for name in TRACKS[track]]
            child.send(*calls_message(names[start:], limits.dtype, order))
            for name in names[start:]:
                start += 1
                try:
                    meta, arrays = child.receive(limits.time)
                    while meta.get("kind") == "called":  # the next call: its own time
                        meta, arrays = child.receive(limits.time)
                except ChildGone as gone:
                    graded.results.append(Result(name, "failed", f"failed: {gone.reason}"))
                    break
                graded.results.append(verdict(name, meta, arrays, limits.dtype))
        except ChildGone as gone:  # it ended before it read the tracks
            return give_up(gone.reason)
        finally:
            spent += child.close()
    return graded


