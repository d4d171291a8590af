"""Every script's command line, by property: bad input is exactly one line on standard error
and exit status 2, never a traceback, and writes nothing; good input exits 0 (or the 1 that
compare.py and check_exercises.py document).

The flags and their values come from each script's own parser (its actions' option strings,
choices, types, nargs and store_true flags): edge values (0, negative, 1e308, 10**30, NaN,
inf, the empty string), a choice that is not one, and paths of every kind: missing, in a
missing folder, under a file, empty, junk bytes, the first half of a real checkpoint, a file
of another kind, a folder, a FIFO, a symlink, and one path given to two flags. Each argument
list runs `main(args)` in this process, in a fresh temporary folder that is also the working
directory, and costs milliseconds: train.py and compare.py run capped (one iteration of 100
images), and where a valid command line would start minutes of work (study.py, bench.py,
figures.py) the work is stopped where it starts, after every check of the input.

Two profiles: "suite" (the default: 20 deterministic examples a script, a few seconds) and
"deep" (1000 random ones a script, minutes): `CLI_PROFILE=deep pytest -n 0
parity_tests/cli/test_cli_properties.py --hypothesis-show-statistics`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import io
import itertools
import os
import shlex
import shutil
import signal
import stat
import tempfile
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from unittest import mock
from urllib.error import URLError

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from ch9_shared.data import SHIPPED
from parity_tests.conftest import (
    HAS_TORCH,
    LOG_LINE,
    REPO,
    can_symlink,
    has_signal,
    in_process,
    needs_fifo,
    needs_symlinks,
    needs_torch,
)
from scripts import cli

settings.register_profile("suite", max_examples=20, deadline=None, derandomize=True,
                          database=None, print_blob=False,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=1000, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings(settings.get_profile(os.environ.get("CLI_PROFILE", "suite")))
"""Applied to the test alone: loading a profile would change every other module's tests."""

HANG_SECONDS = 30
"""An example that runs longer than this has hung (a FIFO opened for reading, say)."""

# The values a flag is given when it has neither choices nor a path type.
EDGE_VALUES = ("0", "-1", "-0", "1", "2", "10", "0.5", "1e308", str(10**30), "nan", "inf",
               "-inf", "", "ten")
NOT_A_CHOICE = ("bogus", "")
ORDINARY_VALUES = ("1", "2", "10")

CANNOT_MAKE = {*(() if hasattr(os, "mkfifo") else ("fifo",)),
               *(() if can_symlink() else ("symlink", "dangling-symlink"))}
"""Path kinds this system cannot make (Windows: a FIFO; a symlink, unless allowed): left
out of the examples, and test_every_path_kind_is_drawn_here skips to say so."""


def makeable(kinds: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(kind for kind in kinds if kind not in CANNOT_MAKE)

TORCH_SCRIPTS = ("compare", "study", "bench", "figures")
"""The scripts that need the torch extra (bench: for its torch rows)."""

# Path kinds, made in each example's own folder (see Folder.path): every kind for an edge
# value, the kinds a learner would give each flag for an ordinary one.
ORDINARY_PATHS = {"resume": ("run.npz", "torch.npz"), "checkpoint": ("run.npz", "torch.npz"),
                  "data_dir": ("data",), "source": ("data",), "cache_dir": ("cache",),
                  "answers": ("answers.py", "broken.py"), "save": ("missing.npz",),
                  "metrics": ("new.json",), "json": ("new.json",), "csv": ("new.csv",),
                  "plot": ("new-folder",), "out": ("new-folder",)}
OUTPUT_KINDS = makeable((
    "again", "again", "fifo", "symlink", "dangling-symlink", "notes.txt", "folder",
    "missing.npz", "new.json", "new-folder", "in-missing-folder", "under-a-file",
    "empty-string", "relative"))
"""For a command line aimed at its outputs: "again" (the path given just before) twice as
often as the others."""
PATH_KINDS = makeable((
    "missing", "missing.npz", "new.json", "new.csv", "new-folder", "in-missing-folder",
    "under-a-file", "empty", "junk", "half.npz", "half-torch.npz", "run.npz", "torch.npz",
    "notes.txt", "answers.py", "broken.py", "folder", "data", "cache", "fifo", "symlink",
    "dangling-symlink", "relative", "empty-string", "again"))


class Reached(BaseException):
    """Raised where a script, its input checked, would start minutes of work. A
    BaseException, so that no `except Exception` of a script takes it for an error."""


class Hung(BaseException):
    """The example ran past HANG_SECONDS."""


@dataclass(frozen=True)
class Script:
    name: str
    good: frozenset[int] = frozenset({0})  # exit statuses of good input
    prefix: tuple[str, ...] = ()  # caps, before the generated flags (a later flag wins)
    outputs: tuple[str, ...] = ()  # flags that name a file or folder to write
    folders: tuple[str, ...] = ()  # those of them that name a folder
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)  # per flag, not EDGE_VALUES
    stops: tuple[str, ...] = ()  # "module.attribute"s where the minutes of work start

    def __str__(self) -> str:
        return self.name


CAPS = ("--iterations", "1", "--train-size", "100", "--test-size", "100")
NO_HUGE_RUN = {"--iterations": tuple(v for v in EDGE_VALUES if v != str(10**30))}
"""--iterations 10**30 is a valid run that never ends."""

SCRIPTS = [
    Script("train", prefix=(*CAPS, "--cache-dir", "@missing"),
           outputs=("--save", "--metrics", "--plot"), folders=("--plot",), values=NO_HUGE_RUN),
    Script("compare", frozenset({0, 1}), prefix=(*CAPS, "--cache-dir", "@missing"),
           outputs=("--json",), values=NO_HUGE_RUN),
    Script("evaluate", prefix=("--test-size", "100")),
    Script("study", prefix=("--quick",), outputs=("--out",), folders=("--out",),
           stops=("scripts.study.run",)),
    Script("bench", prefix=("--quick",), outputs=("--json",),
           stops=("tools.bench.gemm", "tools.bench.device_rows", "tools.bench.timed_commands")),
    Script("check_exercises", frozenset({0, 1}), outputs=("--csv", "--junit", "--gradescope")),
    Script("figures", prefix=("--out", "@new-folder"), outputs=("--out",), folders=("--out",),
           stops=("scripts.figures.load",)),
    Script("build_data", prefix=("--out", "@new-folder"), outputs=("--out",),
           folders=("--out",)),
]

TOOLS = ("bench", "build_data")  # in tools/; the others in scripts/


def module_name(name: str) -> str:
    return f"{'tools' if name in TOOLS else 'scripts'}.{name}"


DIVERGED = "the weights overflowed to inf or nan"
HIDDEN_BY_DEFAULT = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)
"""Warning categories a fresh process does NOT print (Python's default filters)."""


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser


@cache
def parser_of(name: str) -> argparse.ArgumentParser:
    """The script's own parser: build_parser where the script has one, else the parser its
    main() builds, caught as it parses."""
    if name == "train":
        return cli.build_parser("scripts/train.py")
    module = importlib.import_module(module_name(name))
    if hasattr(module, "build_parser"):
        return module.build_parser()

    def catch(parser, args=None, namespace=None):
        raise _Captured(parser)

    with mock.patch.object(argparse.ArgumentParser, "parse_args", catch):
        try:
            module.main([])
        except _Captured as caught:
            return caught.parser
    raise AssertionError(f"{module_name(name)}'s main() parsed no arguments")


# Strategies: a command line is a list of tokens; "@KIND" stands for a path of that kind,
# made in the example's folder.

def paths(kinds: tuple[str, ...] = PATH_KINDS) -> st.SearchStrategy[str]:
    return st.sampled_from(kinds).map(lambda kind: f"@{kind}")


def values_of(script: Script, action: argparse.Action, edge: bool) -> st.SearchStrategy[str]:
    """An ordinary value of the action (mostly valid), or with `edge` an edge value."""
    if action.choices is not None:
        choices = list(map(str, action.choices))
        return st.sampled_from([*choices, *NOT_A_CHOICE] if edge else choices)
    if action.type is Path:
        return paths(PATH_KINDS if edge else ORDINARY_PATHS.get(action.dest, PATH_KINDS))
    if not edge:
        return st.sampled_from(ORDINARY_VALUES)
    pool = next((script.values[o] for o in action.option_strings if o in script.values),
                EDGE_VALUES)
    return st.sampled_from(pool)


def tokens_of(script: Script, action: argparse.Action, option: str | None, edge: bool
              ) -> st.SearchStrategy[list[str]]:
    """An optional action's flag with its values, or a positional's values."""
    head = [] if option is None else [option]
    if action.nargs == 0:
        return st.just(head)
    value = values_of(script, action, edge)
    if action.nargs in (None, 1):
        return value.map(lambda v: [*head, v])
    low = {"?": 0, "*": 0, "+": 1}.get(action.nargs, action.nargs)
    high = 3 if action.nargs in ("*", "+") else 1 if action.nargs == "?" else action.nargs
    return st.lists(value, min_size=low, max_size=high).map(lambda vs: [*head, *vs])


@st.composite
def command_lines(draw: st.DrawFn, script: Script) -> list[str]:
    """The caps, then in any order: a few flags with ordinary values (mostly valid, so that
    the command gets past its first checks to the ones behind), up to two with edge values,
    and now and then the script's output flags with paths aimed at them (one path twice, a
    FIFO, a symlink, a folder); then the positionals, and now and then one token too many."""
    parser = parser_of(script.name)
    actions = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    optionals = [a for a in actions if a.option_strings]
    chunks: list[list[str]] = []
    for edge, most in ((False, 4), (True, 2)):
        for action in draw(st.lists(st.sampled_from(optionals), max_size=most)):
            option = draw(st.sampled_from(action.option_strings))
            chunks.append(draw(tokens_of(script, action, option, edge)))
    if script.outputs and draw(st.integers(0, 3)) == 0:
        for flag in draw(st.lists(st.sampled_from(script.outputs), min_size=1, max_size=3)):
            chunks.append([flag, draw(paths(OUTPUT_KINDS))])
    tokens = list(script.prefix)
    for chunk in draw(st.permutations(chunks)):
        tokens += chunk
    for action in (a for a in actions if not a.option_strings):
        if action.nargs is None and draw(st.integers(0, 9)) == 0:
            continue  # a required positional left out
        tokens += draw(tokens_of(script, action, None, draw(st.integers(0, 3)) == 0))
    extra = draw(st.integers(0, 24))
    if extra == 0:
        tokens.append("--help")
    elif extra == 1:
        tokens.append("--no-such-flag")
    elif extra == 2:
        tokens.append("stray")
    elif extra == 3:  # a flag that takes a value, last, without one
        takes = [a for a in optionals if a.nargs != 0]
        if takes:
            tokens.append(draw(st.sampled_from(takes)).option_strings[-1])
    return tokens


# The example's folder.

@dataclass
class Folder:
    """A fresh folder for one example, and the paths of each kind made in it."""

    root: Path
    artifacts: Path
    last: str | None = None

    def path(self, kind: str) -> str:
        r = self.root
        if kind == "again":
            return self.last if self.last is not None else str(r / "missing")
        if kind == "empty-string":
            return ""
        if kind == "relative":
            return "relative.npz"  # the working directory is the folder
        made: dict[str, Callable[[], Path]] = {
            "missing": lambda: r / "missing",
            "missing.npz": lambda: r / "missing.npz",
            "new.json": lambda: r / "new.json",
            "new.csv": lambda: r / "new.csv",
            "new-folder": lambda: r / "new-folder",
            "in-missing-folder": lambda: r / "nowhere" / "x.npz",
            "under-a-file": lambda: self._write("notes.txt", b"notes\n") / "x.npz",
            "empty": lambda: self._write("empty.npz", b""),
            "junk": lambda: self._write("junk.npz", bytes(range(256)) * 8),
            "half.npz": lambda: self._half("run.npz"),
            "half-torch.npz": lambda: self._half("torch.npz"),
            "run.npz": lambda: self._copy("run.npz"),
            "torch.npz": lambda: self._copy("torch.npz"),
            "notes.txt": lambda: self._write("notes.txt", b"notes\n"),
            "answers.py": lambda: self._write(
                "answers.py", (REPO / "exercises" / "backprop.py").read_bytes()),
            "broken.py": lambda: self._write("broken.py", b"def (:\n"),
            "folder": lambda: self._folder("folder"),
            "data": lambda: self._data(r / "data"),
            "cache": lambda: self._data(r / "cache" / "MNIST" / "raw").parent.parent,
            "fifo": self._fifo,
            "symlink": lambda: self._link("symlink.npz", self._write("target.txt", b"x\n")),
            "dangling-symlink": lambda: self._link("dangling.npz", r / "gone"),
        }
        path = str(made[kind]())
        self.last = path
        return path

    def _write(self, name: str, data: bytes) -> Path:
        path = self.root / name
        if not path.exists():
            path.write_bytes(data)
        return path

    def _copy(self, name: str) -> Path:
        return self._write(name, (self.artifacts / name).read_bytes())

    def _half(self, name: str) -> Path:
        data = (self.artifacts / name).read_bytes()
        return self._write(f"half-{name}", data[: len(data) // 2])

    def _folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(exist_ok=True)
        return path

    def _data(self, folder: Path) -> Path:
        """A copy of the shipped data (the chapter's 1000 training and 10000 test images)."""
        if not folder.exists():
            folder.mkdir(parents=True)
            for gz in SHIPPED.glob("*.gz"):
                shutil.copyfile(gz, folder / gz.name)
        return folder

    def _fifo(self) -> Path:
        path = self.root / "fifo"
        if not path.exists():
            os.mkfifo(path)
        return path

    def _link(self, name: str, target: Path) -> Path:
        path = self.root / name
        if not path.is_symlink():
            path.symlink_to(target)
        return path

    def command(self, tokens: list[str]) -> list[str]:
        return [self.path(t[1:]) if t.startswith("@") else t for t in tokens]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under `root`: its kind and, for a file, its inode, size, mtime and bytes
    (a folder's own mtime is left out: checking that a file can be written in it writes a
    scratch file there and removes it)."""
    found: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            info = path.lstat()
            key = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                found[key] = ("symlink", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[key] = ("folder",)
            elif stat.S_ISREG(info.st_mode):
                found[key] = ("file", info.st_ino, info.st_size, info.st_mtime_ns,
                              hashlib.sha256(path.read_bytes()).hexdigest())
            else:
                found[key] = ("other", stat.S_IFMT(info.st_mode), info.st_ino)
    return found


def changes(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    return sorted(name for name in before.keys() | after.keys()
                  if before.get(name) != after.get(name))


# Running a script.

@dataclass
class Ran:
    status: int | str | None  # "reached": the input was checked and the work would start
    stdout: str
    stderr: str  # as a fresh process would print it: with the warnings it would show
    escaped: str | None  # the traceback of an exception that escaped main()


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raise Hung after `seconds`, where SIGALRM can (the main thread; not on Windows, where
    no FIFO can hang an example either)."""
    if threading.current_thread() is not threading.main_thread() or not has_signal("SIGALRM"):
        yield
        return

    def hung(signum, frame):
        raise Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run(script: Script, args: list[str], cwd: Path) -> Ran:
    """The script's main in this process (conftest's `in_process`), in `cwd`, its stops
    patched, and the warnings a fresh process would show added to its standard error."""
    with contextlib.ExitStack() as stack:
        for target in script.stops:
            stack.enter_context(mock.patch(target, side_effect=Reached))
        if "--download" in args and "--dataset" in args:  # the network, as offline
            stack.enter_context(mock.patch(
                "torchvision.datasets.mnist.download_and_extract_archive",
                side_effect=URLError("offline: the test stands in for the network")))
        stack.enter_context(working_directory(cwd))
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        warnings.simplefilter("always")
        with time_limit(HANG_SECONDS):
            ran = in_process(f"{module_name(script.name).replace('.', '/')}.py", args,
                             catch=(Exception, Hung, Reached))
    shown = {warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line)
             for w in caught if not issubclass(w.category, HIDDEN_BY_DEFAULT)}
    status, escaped = ran.returncode, None
    if isinstance(ran.raised, Reached):
        status = "reached"
    elif ran.raised is not None:
        escaped = "".join(traceback.format_exception(ran.raised))
    return Ran(status, ran.stdout, ran.stderr + "".join(sorted(shown)), escaped)


def effective(args: list[str], flags: tuple[str, ...]) -> dict[str, str]:
    """The value each of `flags` ends up with: the last one given wins."""
    found = {}
    for flag, value in itertools.pairwise(args):
        if flag in flags:
            found[flag] = value
    return found


def known_bad_outputs(args: list[str], script: Script, cwd: Path) -> list[str]:
    """Output flags that must make the command exit 2: one path given to two of them (through
    symlinks too), a path where something other than a regular file or a folder stands (a
    FIFO), or a folder's path that is a dangling symlink (no folder can be made there). A
    file's path that is a symlink is written through: that is good input."""
    if "-h" in args or "--help" in args:
        return []  # help comes first
    seen: dict[str, str] = {}
    bad = []
    for flag, value in effective(args, script.outputs).items():
        where = os.path.join(cwd, value)
        real = os.path.realpath(where)
        if real in seen:
            bad.append(f"{seen[real]} and {flag} are both {value!r}")
        seen[real] = flag
        if os.path.exists(where) and not (os.path.isfile(where) or os.path.isdir(where)):
            bad.append(f"{flag} {value!r} is not a regular file")
        if flag in script.folders and os.path.islink(where) and not os.path.exists(where):
            bad.append(f"{flag} {value!r} is a dangling symlink, where no folder can be made")
    return bad


@needs_fifo
@needs_symlinks
def test_every_path_kind_is_drawn_here():
    assert {"fifo", "symlink", "dangling-symlink"} <= set(PATH_KINDS) & set(OUTPUT_KINDS)


def test_without_sigalrm_an_example_runs_without_a_time_limit(monkeypatch):
    """Windows' case: no SIGALRM to set, and no alarm set (either would raise here)."""
    monkeypatch.delattr(signal, "SIGALRM")
    monkeypatch.setattr(signal, "alarm", lambda seconds: pytest.fail("an alarm was set"))
    with time_limit(1):
        pass


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    """A real checkpoint of each side, made by `scripts/train.py --save` with the caps of
    CAPS (so that --resume with the caps goes on from them); where torch is not installed,
    torch.npz is the NumPy side's too."""
    from scripts import train

    folder = tmp_path_factory.mktemp("cli-artifacts")
    for impl, name in (("numpy", "run.npz"), ("torch" if HAS_TORCH else "numpy", "torch.npz")):
        with contextlib.redirect_stdout(io.StringIO()):
            assert train.main([*CAPS, "--impl", impl, "--save", str(folder / name),
                               "--quiet"]) == 0
    return folder


@pytest.mark.parametrize("script", [pytest.param(s, marks=needs_torch) if s.name in TORCH_SCRIPTS
                                    else s for s in SCRIPTS], ids=str)
@PROFILE
@given(data=st.data())
def test_bad_input_is_one_line_and_exit_2_and_writes_nothing(script, artifacts, data):
    tokens = data.draw(command_lines(script), label="tokens")
    with tempfile.TemporaryDirectory(prefix="cli-") as name:
        folder = Folder(Path(name), artifacts)
        args = folder.command(tokens)
        command = f"{module_name(script.name).replace('.', '/')}.py {shlex.join(args)}"
        note(command)
        bad_outputs = known_bad_outputs(args, script, folder.root)
        before = snapshot(folder.root)
        ran = run(script, args, folder.root)
        changed = changes(before, snapshot(folder.root))
    said = f"{command}\nexit {ran.status}\nstdout: {ran.stdout!r}\nstderr: {ran.stderr!r}"
    assert ran.escaped is None, f"an exception escaped main():\n{command}\n{ran.escaped}"
    assert "Traceback" not in ran.stderr, said
    assert ran.status in {*script.good, 2, "reached"}, f"wrong exit status:\n{said}"
    assert not bad_outputs or ran.status == 2, f"{'; '.join(bad_outputs)}:\n{said}"
    if ran.status != 2:
        return
    diverged = script.name == "train" and DIVERGED in ran.stderr
    lines = ran.stderr.splitlines()
    if diverged:  # a run that started, and stopped: what it said as it started comes first
        lines = [line for line in lines
                 if not (line.startswith("scripts/train.py: note: ")
                         or line.startswith("resuming from "))]
    assert ran.stderr.endswith("\n") and len(lines) == 1, \
        f"exit 2 with not exactly one line on standard error:\n{said}"
    if script.name == "train":  # the log lines of iterations before the error, and no more
        assert all(LOG_LINE.fullmatch(line) for line in ran.stdout.splitlines()), said
    else:
        assert ran.stdout == "", f"exit 2 with standard output:\n{said}"
    if diverged:
        # documented: a run that diverges keeps the metrics of its logged iterations and
        # the checkpoints of --save-every
        kept = {os.path.relpath(os.path.abspath(os.path.join(name, v)), name)
                for v in effective(args, ("--metrics", "--save")).values()}
        changed = [c for c in changed if c not in kept]
    assert not changed, f"exit 2, and files changed: {changed}\n{said}"
