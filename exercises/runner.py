"""Grade a file of answers in a child process: its code runs there, every verdict is ours.

    grade_file(path, limits) -> Graded     (the parent: scripts/check_exercises.py)
    python -m exercises.runner ...         (the child: started by grade_file, never by hand)

The child imports the answers, tells the parent which track(s) the file holds, and runs
each exercise's probe (exercises/grading.py): the learner's code on the chapter's first
step. For each exercise it sends back only NumPy arrays, framed as `.npz` bytes, or the
line of what it raised (read with allow_pickle=False). The channel is the one every system
has: the child's own standard output, which a thread of the parent reads; the child keeps
it on a file descriptor of its own and points its standard output at os.devnull before the
answers are imported, so their prints go nowhere. The parent compares the arrays with the
project's tensors and decides every verdict and the exit status, so nothing in the file can
make an exercise pass but tensors that are right: exiting, replacing the grader's
functions, or printing changes nothing but the child.

Limits: each exercise has `time` seconds of wall-clock time (importing the file gets
`start` seconds); where the system enforces it (Linux), the child's data segment (its heap
and every anonymous mapping, where NumPy and torch allocate) is capped at `memory_mb`
(RLIMIT_DATA), so an allocation past it raises MemoryError inside the answer. Where it does
not (Windows, macOS: ch9_shared/system.py), the child grades without that cap and says so,
and Graded.unlimited says why. A hang or a crash fails that exercise alone: the parent
kills the child (and its process group, where the system has one) and starts a fresh child
at the next exercise.

With `user` (POSIX, run as root: the Gradescope autograder), the child runs as that user,
in that user's group alone, so it reads only what that user may; the solutions can be made
unreadable to it.

What this does not protect against (docs/exercises.md): otherwise the child runs as the
same user, and always with the same file system and network as the parent; the answers can
read the project's solutions, write files, or start processes that leave the process group.
It keeps a class's answers from hanging or crashing the grader, or from deciding their own
grades; it is no sandbox.
"""

from __future__ import annotations

import io
import json
import os
import queue
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ch9_shared.system import (
    how_it_ended,
    kill_group,
    limit_memory,
    new_group_options,
    user_options,
)
from ch9_shared.threads import THREAD_VARIABLES
from exercises import TRACKS, exercise
from exercises.grading import Arrays, Outcome, Result, first_line, first_step, judge

ROOT = Path(__file__).resolve().parent.parent
HEADER = struct.Struct("<Q")
MAX_MESSAGE = 64 << 20
"""The largest message the parent reads: the biggest exercise (train_step, float64, on both
configurations) sends about 4 MB."""
NONSENSE = "the grader's process sent what is not a message"


@dataclass(frozen=True)
class Limits:
    """What a child may use: seconds an exercise, seconds to import the file, MiB of data,
    and the user it runs as (None: this process's)."""

    time: float = 10.0
    start: float = 60.0
    memory_mb: int = 4096
    dtype: str = "float64"
    user: str | None = None


@dataclass
class Graded:
    """A file's grades: its track(s) and one Result an exercise, or why it has none."""

    path: Path
    tracks: list[str] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    error: str | None = None  # the file could not be imported: no exercise was graded
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

def send(channel: BinaryIO, meta: dict[str, object], arrays: Arrays | None = None
         ) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.array(json.dumps(meta)), **(arrays or {}))
    data = buffer.getvalue()
    channel.write(HEADER.pack(len(data)) + data)
    channel.flush()


def load_answers(path: Path) -> object:
    import importlib.util
    spec = importlib.util.spec_from_file_location(f"answers_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def open_channel() -> BinaryIO:
    """The channel to the parent: this process's standard output, moved to a descriptor of
    its own, while descriptor 1 (and so sys.stdout) now writes to os.devnull."""
    sys.stdout.flush()
    channel = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    return channel


def child(path: Path, dtype: str, start: int, memory_mb: int) -> None:
    """Import the answers, say which tracks they hold, probe each exercise from `start`."""
    unlimited = limit_memory(memory_mb)
    channel = open_channel()
    first_step(dtype)  # the inputs, before the answers can change numpy
    try:
        module = load_answers(path)
    except (Exception, SystemExit) as e:
        send(channel, {"kind": "import failed", "error": first_line(e), "unlimited": unlimited})
        return
    tracks = [track for track, names in TRACKS.items()
              if any(getattr(module, name, None) is not None for name in names)] or ["backprop"]
    send(channel, {"kind": "ready", "tracks": tracks, "unlimited": unlimited})
    names = [name for track in tracks for name in TRACKS[track]]
    for name in names[start:]:
        answer = getattr(module, name, None)
        try:
            if answer is None:
                raise Outcome("not done", f"not done yet ({name} is not defined)")
            arrays = exercise(name).probe(answer, dtype)
        except Outcome as outcome:
            send(channel, {"kind": "result", "name": name, "status": outcome.status,
                           "message": outcome.message})
        except (Exception, SystemExit) as e:  # what the answer broke in the probe itself
            send(channel, {"kind": "result", "name": name, "status": "wrong",
                           "message": f"wrong: checking it raised {first_line(e)}"})
        else:
            send(channel, {"kind": "result", "name": name}, arrays)


# The parent.

class ChildGone(Exception):
    """The child ended, hung or sent what is not a message; the text says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Child:
    """One child process, grading one file from exercise `start` on."""

    def __init__(self, path: Path, limits: Limits, start: int):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
        for name in THREAD_VARIABLES:  # one thread a child: a class is graded in parallel
            env[name] = "1"
        options = dict(stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, env=env, **new_group_options(),
                       **(user_options(limits.user) if limits.user else {}))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "exercises.runner", str(path), limits.dtype, str(start),
             str(limits.memory_mb)], **options)
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

    def _read(self, size: int, deadline: float, seconds: float) -> bytes:
        while len(self.buffer) < size:
            try:
                chunk = self.chunks.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise ChildGone(f"still running after {seconds:g} s (an endless loop?)"
                                ) from None
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
        """The next message, within `seconds`; ChildGone if none comes."""
        deadline = time.monotonic() + seconds
        (size,) = HEADER.unpack(self._read(HEADER.size, deadline, seconds))
        if size > MAX_MESSAGE:
            raise ChildGone(NONSENSE)
        data = self._read(size, deadline, seconds)
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
            meta = json.loads(str(arrays.pop("__meta__")))
        except Exception:
            raise ChildGone(NONSENSE) from None
        if not isinstance(meta, dict):
            raise ChildGone(NONSENSE)
        return meta, arrays

    def close(self) -> None:
        kill_group(self.process)
        while not self.ended:  # let the reader reach the channel's end
            try:
                self.ended = not self.chunks.get(timeout=1)
            except queue.Empty:
                break  # a process outside the group holds the channel open


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


def grade_file(path: Path, limits: Limits = Limits()) -> Graded:
    """Grade every exercise of the file's track(s), in as many children as it takes."""
    graded, names, start = Graded(path), None, 0
    while names is None or start < len(names):
        child = Child(path, limits, start)
        try:
            try:
                meta, _ = child.receive(limits.start)
            except ChildGone as gone:
                if names is None:
                    graded.error = f"cannot be imported: {gone.reason}"
                    return graded
                graded.results += [Result(n, "failed", f"failed: {gone.reason}")
                                   for n in names[start:]]
                return graded
            if isinstance(meta.get("unlimited"), str):
                graded.unlimited = one_line(meta["unlimited"])
            if meta.get("kind") == "import failed":
                graded.error = f"cannot be imported: {one_line(meta.get('error', ''))}"
                return graded
            if names is None:
                tracks = meta.get("tracks")
                if not (isinstance(tracks, list) and tracks and set(tracks) <= set(TRACKS)):
                    graded.error = f"cannot be imported: {NONSENSE}"
                    return graded
                graded.tracks = [track for track in TRACKS if track in tracks]
                names = [name for track in graded.tracks for name in TRACKS[track]]
            for name in names[start:]:
                start += 1
                try:
                    meta, arrays = child.receive(limits.time)
                except ChildGone as gone:
                    graded.results.append(Result(name, "failed", f"failed: {gone.reason}"))
                    break
                graded.results.append(verdict(name, meta, arrays, limits.dtype))
        finally:
            child.close()
    return graded


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("exercises/runner.py: error: scripts/check_exercises.py starts this, not a "
                 "person: python scripts/check_exercises.py ANSWERS.py")
    _, file, dtype_, first, memory = sys.argv
    child(Path(file), dtype_, int(first), int(memory))
