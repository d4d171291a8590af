"""How every script ends: one line on standard error and the right exit status, whatever
stops it (`cli.exit_with` calls `set_up` and `line_and_status`).

- A signal that ends a program by default (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
  SIGALRM, SIGXCPU...: ch9_shared/files.py's STOP_SIGNALS) raises `Interrupted` (a
  KeyboardInterrupt, so code that already cleans up after Ctrl-C cleans up after each):
  status 128 + the signal's number (130, 143, 129...); files.py holds them back while a file
  is written. Once one has arrived, or the script's work is over, the next are let go by:
  the first one's ending is never cut short into a traceback.
- A failure of the machine (a full disk, the file-size limit, no memory, no new thread):
  status 1; input the run cannot use: 2. The two scripts whose 1 is a verdict (compare.py:
  not close; check_exercises.py: an answer failed) exit 2 for any trouble, as diff does.
- Standard error that is closed or cannot be written (/dev/full) changes no status, and a
  closed descriptor is never taken over by a file the run writes. A standard stream that
  cannot encode a character (PYTHONIOENCODING=ascii) shows it escaped.
- Every line is one line: control characters (a newline in a file name) are shown escaped.
"""

from __future__ import annotations

import _thread
import contextlib
import errno
import io
import os
import signal
import sys
import threading
import time
import unicodedata

from ch9_shared.files import STOP_SIGNALS

MACHINE_ERRNOS = {getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EIO",
                                                   "ENOMEM", "EAGAIN") if hasattr(errno, name)}
"""An OSError with one of these is the machine's failure (status 1), not the input's."""

HINTS = {getattr(errno, name, None): hint for name, hint in (
    ("ENOSPC", "free some space, or write elsewhere"),
    ("EDQUOT", "free some space, or write elsewhere"),
    ("EFBIG", "the file-size limit (ulimit -f) stops it: raise it, or write less"),
    ("ENOMEM", "ask for less"))}


class Interrupted(KeyboardInterrupt):
    """One of the STOP_SIGNALS arrived; `number` is the signal's."""

    def __init__(self, number: int) -> None:
        super().__init__(signal.Signals(number).name)
        self.number = number


def interrupted_status(error: KeyboardInterrupt) -> int:
    """128 + the signal's number: 130 for SIGINT (a plain KeyboardInterrupt too), 143 for
    SIGTERM."""
    return 128 + getattr(error, "number", signal.SIGINT)


def signal_name(error: KeyboardInterrupt) -> str:
    """The signal's name, and what sends it where a learner may not know: SIGXCPU."""
    name = signal.Signals(getattr(error, "number", signal.SIGINT)).name
    return f"{name} (the CPU-time limit, ulimit -t)" if name == "SIGXCPU" else name


def one_line(text: object) -> str:
    """`text` with every control character escaped (a newline as \\n): one line, always."""
    return "".join(repr(c)[1:-1] if unicodedata.category(c)[0] == "C" else c for c in str(text))


def say(line: str) -> None:
    """Print one line on standard error; a standard error that cannot be written is ignored."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        print(one_line(line), file=sys.stderr, flush=True)


def status_of(error: OSError) -> int:
    """1 for a failure of the machine, 2 for anything else (a path the run cannot use)."""
    return 1 if error.errno in MACHINE_ERRNOS else 2


def reason(error: OSError) -> str:
    """Why an OSError happened, and what to do: "No space left on device: free some space"."""
    why = error.strerror or str(error)
    return f"{why}: {HINTS[error.errno]}" if error.errno in HINTS else why


def describe(error: OSError) -> str:
    """An OSError in words: on which file, why, and what to do."""
    return f"{error.filename}: {reason(error)}" if error.filename else reason(error)


class Stderr(io.TextIOBase):
    """Standard error written straight to descriptor 2 in `encoding`, what it cannot encode
    escaped: a write that fails (/dev/full, a closed descriptor) is dropped, never buffered
    to fail again at exit."""

    def __init__(self, encoding: str = "utf-8") -> None:
        super().__init__()
        self._encoding = encoding

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding

    def write(self, text: str) -> int:
        data = text.encode(self._encoding, "backslashreplace")
        with contextlib.suppress(OSError):
            while data:
                data = data[os.write(2, data):]
        return len(text)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        try:
            return os.isatty(2)
        except OSError:
            return False

    def fileno(self) -> int:
        return 2


STOPPED_BY: list[int] = []
"""The signal that stopped the script, once one has: whatever it becomes on its way up (an
import that turns it into an ImportError), the script ends as that signal says."""


_in_unraisable = threading.Event()
"""Set while _unraisable runs: a signal there would be printed and ignored, so its thread
sends it again until the script takes it."""


def _stop(number: int, frame: object) -> None:
    if _in_unraisable.is_set():
        return
    let_signals_by()
    STOPPED_BY.append(number)
    raise Interrupted(number)


def let_signals_by() -> None:
    """From now on the STOP_SIGNALS change nothing, to the end of the interpreter's shutdown
    (where Python would put back their default, a kill): the script is already ending."""
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)


def _unraisable(hook: sys.UnraisableHookArgs) -> None:
    """sys.unraisablehook: a signal raised where Python cannot raise it (in a finalizer,
    which prints it and goes on) is sent again a moment later, from a thread, to stop the
    script where it can; anything else is shown as Python shows it."""
    if not isinstance(hook.exc_value, Interrupted):
        sys.__unraisablehook__(hook)
        return
    taken = len(STOPPED_BY)

    def again(number: int = hook.exc_value.number) -> None:
        while len(STOPPED_BY) == taken:  # until the main thread takes it in its own code
            time.sleep(0.01)
            _thread.interrupt_main(number)

    _in_unraisable.set()
    try:
        for number in STOP_SIGNALS:
            signal.signal(number, _stop)
        threading.Thread(target=again, daemon=True).start()
    except RuntimeError:  # no thread can start: stop now, in the same words
        say(f"{program()}: stopped by {signal_name(hook.exc_value)}")
        os._exit(interrupted_status(hook.exc_value))
    finally:
        _in_unraisable.clear()


def program() -> str:
    """The running script as its messages name it: scripts/train.py."""
    path = sys.argv[0] if sys.argv and sys.argv[0] else "python"
    with contextlib.suppress(OSError):  # a current folder deleted: the path as given
        path = os.path.abspath(path)
    return f"{os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}"


def _last_word(kind: type, error: BaseException, traceback: object) -> None:
    """sys.excepthook: a signal before the script's main began (its imports) is one line,
    even where an import turned it into another error."""
    if STOPPED_BY and not isinstance(error, KeyboardInterrupt):
        error = Interrupted(STOPPED_BY[0])
    if isinstance(error, KeyboardInterrupt):
        say(f"{program()}: stopped by {signal_name(error)} while starting; "
            "nothing was written")
        os._exit(interrupted_status(error))
    sys.__excepthook__(kind, error, traceback)


def set_up() -> None:
    """Set up a script's ending, first thing: descriptors 0-2 open (on the null device where
    they were closed), standard streams that cannot fail or fail to encode, the STOP_SIGNALS
    as Interrupted, a write past the file-size limit as an OSError (not SIGXFSZ's kill), and
    a current folder that still exists."""
    sys.excepthook = _last_word
    sys.unraisablehook = _unraisable
    for number in STOP_SIGNALS:
        signal.signal(number, _stop)
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stderr is None or sys.stderr is sys.__stderr__:  # not a test's capture
        sys.stderr = Stderr(getattr(sys.__stderr__, "encoding", None) or "utf-8")
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        os.getcwd()
    except OSError:
        say(f"{program()}: error: the current folder no longer exists (it was deleted or "
            "moved after this shell went into it): cd to a folder that exists, and run it "
            "again")
        sys.exit(2)
    from ch9_shared.system import writes_past_size_limit_raise  # NumPy: after the signals

    writes_past_size_limit_raise()


def line_and_status(prog: str, error: BaseException) -> int | None:
    """The one line and the status for what ended a script's main, or None for an
    exception this does not know (it is re-raised)."""
    if isinstance(error, KeyboardInterrupt):
        say(f"{prog}: stopped by {signal_name(error)} before it finished; every file it writes "
            "is whole or absent: run it again")
        return interrupted_status(error)
    if isinstance(error, MemoryError):
        say(f"{prog}: error: out of memory: ask for less (a smaller --hidden-size, "
            "--train-size, --test-size or --batch-size)")
        return 1
    if isinstance(error, OSError):
        say(f"{prog}: error: {describe(error)}")
        return status_of(error)
    if isinstance(error, RuntimeError) and "can't start new thread" in str(error):
        say(f"{prog}: error: the system let no new thread start (a limit on processes or "
            "threads, ulimit -u?): raise it, or run fewer programs at once")
        return 1
    return None
