"""The grader's process around the answers (exercises/runner.py, scripts/check_exercises.py):
the track a file hands in, the reference out of the answers' reach, the grader's own faults
reported as the grader's, a time budget a file, nothing an answer starts outliving its file,
and the same rows on every run."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exercises import TRACKS
from exercises.runner import NOT_RUN, Limits, choose_tracks, grade_file
from parity_tests.conftest import REPO, child_env, needs_torch
from parity_tests.kit.conftest import has_process_filter, runnable_by_others

BACKPROP = (REPO / "exercises" / "backprop_solutions.py").read_text(encoding="utf-8")
AUTOGRAD = (REPO / "exercises" / "autograd_solutions.py").read_text(encoding="utf-8")
"""The solutions as text: a file of answers cannot import them."""
QUICK = Limits(time=2, start=20)
COUNTS = {track: str(len(names)) for track, names in TRACKS.items()}
"""The points of a file of each track, as the CSV writes them: one an exercise."""


def check_exercises(*args: str, env: dict[str, str] | None = None
                    ) -> subprocess.CompletedProcess[str]:
    """scripts/check_exercises.py ARGS in a process of its own (its children, its orphans),
    on this checkout's code (not an installed one's)."""
    return subprocess.run([sys.executable, "scripts/check_exercises.py", *args], cwd=REPO,
                          capture_output=True, encoding="utf-8", timeout=600,
                          env=env or child_env(PYTHONPATH=str(REPO)))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def book(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8", newline="")))


# The track is the one the file hands in.

BACK, AUTO = set(TRACKS["backprop"]), set(TRACKS["autograd"])


@pytest.mark.parametrize("defined, wanted, tracks", [
    (AUTO | {"tanh2deriv", "dropout"}, None, ["autograd"]),  # helpers named like exercises
    (BACK | {"softmax_loss"}, None, ["backprop"]),
    (BACK | AUTO, None, ["backprop", "autograd"]),  # both only when each is whole
    (BACK | AUTO - {"train_step"}, None, ["backprop"]),
    (set(), None, ["backprop"]),
    ({"softmax_loss", "ChapterNetwork"}, None, ["autograd"]),
    (BACK, "autograd", ["autograd"]),  # the teacher says
    (BACK, "both", ["backprop", "autograd"]),
])
def test_the_track_is_most_of_its_blanks(defined, wanted, tracks):
    assert choose_tracks(defined, wanted) == tracks


def test_a_tie_goes_to_the_first_track(monkeypatch):
    """One blank of each track, where the tracks have as many exercises: the same share of
    each, and the backprop track's file."""
    size = min(len(names) for names in TRACKS.values())
    for track, names in TRACKS.items():
        monkeypatch.setitem(TRACKS, track, names[:size])
    assert choose_tracks({"relu2deriv", "softmax_loss"}) == ["backprop"]


@needs_torch
def test_helpers_named_like_the_other_tracks_exercises_change_nothing(tmp_path):
    """An autograd file with helpers tanh2deriv and dropout gets every point on autograd
    alone; a backprop file with a NumPy helper softmax_loss, on backprop alone; --track
    both grades the first on both, its percent against both."""
    helpers = ("\ndef tanh2deriv(output):\n    return 1 - output**2\n"
               "\ndef dropout(x, mask):\n    return x * mask * 2\n")
    auto = write(tmp_path, "ann.py", AUTOGRAD + helpers)
    back = write(tmp_path, "ben.py", BACKPROP + "\ndef softmax_loss(x):\n"
                                                "    return np.exp(x) / np.exp(x).sum()\n")
    ran = check_exercises(str(auto), str(back), "--csv", str(tmp_path / "g.csv"))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    ann, ben = book(tmp_path / "g.csv")
    assert (ann["track"], ann["points"], ann["max_points"], ann["percent"]) == (
        "autograd", COUNTS["autograd"], COUNTS["autograd"], "100.0")
    assert (ben["track"], ben["points"], ben["max_points"], ben["percent"]) == (
        "backprop", COUNTS["backprop"], COUNTS["backprop"], "100.0")
    assert ann["tanh2deriv"] == "" and ben["softmax_loss"] == ""

    both = check_exercises(str(auto), "--track", "both", "--csv", str(tmp_path / "b.csv"))
    assert both.returncode == 1
    (row,) = book(tmp_path / "b.csv")
    both_tracks = sum(len(names) for names in TRACKS.values())
    assert (row["track"], row["max_points"]) == ("backprop+autograd", str(both_tracks))
    assert row["softmax_loss"] == row["tanh2deriv"] == "passed"
    assert row["relu2deriv"] == "not done" and row["percent"] == str(round(
        100 * int(row["points"]) / both_tracks, 1))


# The answers never see the reference.

REFERENCE = {  # case: (the file's text, the exercise whose line says it, what it imported)
    "numpy_impl's functions": (
        BACKPROP + "from numpy_impl import activations\n"
        "def tanh2deriv(output):\n    return activations.tanh2deriv(output)\n",
        "tanh2deriv", "numpy_impl"),
    "torch_impl's BookHidden": (
        AUTOGRAD + "from torch_impl.network import BookHidden\n", "BookHidden", "torch_impl"),
    "the grader's cached chapters": (
        BACKPROP + "from exercises import grading\n", "relu2deriv", "exercises"),
    "the solutions inside an answer": (
        BACKPROP + f"import sys\nsys.path.insert(0, {str(REPO / 'exercises')!r})\n"
        "def relu2deriv(output):\n    import backprop_solutions\n"
        "    return backprop_solutions.relu2deriv(output)\n", "relu2deriv",
        "backprop_solutions"),
}


@pytest.mark.parametrize("case", [pytest.param(case, marks=needs_torch) if "torch" in case
                                  else case for case in REFERENCE])
def test_importing_the_reference_fails_with_the_graders_line(case, tmp_path):
    """In the CSV and in Gradescope's results.json alike."""
    text, name, module = REFERENCE[case]
    answers = write(tmp_path, "mallory.py", text)
    ran = check_exercises(str(answers), "--csv", str(tmp_path / "g.csv"), "--gradescope",
                          str(tmp_path / "results.json"))
    assert ran.returncode == 1, ran.stderr
    words = f"the grader does not allow importing {module}"
    (row,) = book(tmp_path / "g.csv")
    assert row[name] != "passed" and words in row[f"{name} reason"], row[f"{name} reason"]
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    test = next(test for test in results["tests"] if test["name"] == name)
    assert test["status"] == "failed" and words in test["output"]


def test_the_childs_own_modules_are_not_left_for_the_answers(tmp_path):
    """The child imported ch9_shared for its limits: by the time the answers load, no module
    of the project is in sys.modules (an answer that finds one fails here, saying which)."""
    looks = ("import sys\n_right = relu2deriv\n"
             "_found = sorted(n for n in sys.modules if n.split('.')[0] in ('ch9_shared', "
             "'exercises', 'numpy_impl', 'torch_impl', 'scripts', 'tools'))\n"
             "def relu2deriv(output):\n    if _found:\n"
             "        raise RuntimeError(f'found {_found}')\n    return _right(output)\n")
    graded = grade_file(write(tmp_path, "snoop.py", BACKPROP + looks), QUICK)
    assert graded.all_passed, [str(result) for result in graded.results]


# The grader's faults are the grader's.

BLOCK_NUMPY = ("import sys\nif not sys.argv[0].endswith('check_exercises.py'):\n"
               "    sys.modules['numpy'] = None\n")
"""A sitecustomize.py: every process but the grader's own cannot import NumPy."""
DIE_AT_START = ("import os, sys\n"
                "if sys.argv[:1] != ['-c'] and not sys.argv[0].endswith('check_exercises.py'):"
                "\n    os._exit(1)\n")
"""A sitecustomize.py: the answers' process dies as it starts (the start-up check passes)."""


def with_site(folder: Path, text: str) -> dict[str, str]:
    write(folder, "sitecustomize.py", text)
    return child_env(PYTHONPATH=os.pathsep.join([str(folder), str(REPO)]))


def test_a_child_that_cannot_import_numpy_is_the_graders_fault(tmp_path):
    (tmp_path / "site").mkdir()
    answers = write(tmp_path, "alice.py", BACKPROP)
    ran = check_exercises(str(answers), "--csv", str(tmp_path / "g.csv"),
                          env=with_site(tmp_path / "site", BLOCK_NUMPY))
    assert ran.returncode == 2 and ran.stdout == "" and ran.stderr.count("\n") == 1
    assert ran.stderr.startswith("scripts/check_exercises.py: error: the answers' process "
                                 "cannot import what grading needs (")
    assert "numpy" in ran.stderr and "pip install" in ran.stderr
    assert not (tmp_path / "g.csv").exists()


def test_a_child_that_dies_before_it_loads_the_file_is_the_graders_fault(tmp_path):
    (tmp_path / "site").mkdir()
    answers = write(tmp_path, "alice.py", BACKPROP)
    ran = check_exercises(str(answers), "--csv", str(tmp_path / "g.csv"),
                          env=with_site(tmp_path / "site", DIE_AT_START))
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert ran.stderr.startswith("scripts/check_exercises.py: error: the grader's environment")
    (row,) = book(tmp_path / "g.csv")
    assert row["error"].startswith("the grader's environment, not the answers")
    assert "cannot be imported" not in row["error"]


def has_nobody() -> bool:
    try:
        import pwd
        pwd.getpwnam("nobody")
    except (ImportError, KeyError):
        return False
    return True


@pytest.mark.skipif(getattr(os, "geteuid", lambda: -1)() != 0, reason="--user needs root")
@pytest.mark.skipif(not has_nobody(), reason="no user called nobody here")
@pytest.mark.skipif(runnable_by_others(sys.executable),
                    reason="this Python is one the user nobody may run")
def test_user_who_cannot_run_this_python_is_one_line(tmp_path):
    answers = write(tmp_path, "alice.py", BACKPROP)
    ran = check_exercises(str(answers), "--user", "nobody")
    assert ran.returncode == 2 and ran.stdout == "" and ran.stderr.count("\n") == 1
    assert ran.stderr.startswith("scripts/check_exercises.py: error: the user nobody cannot "
                                 f"run this Python ({sys.executable}")
    assert "not under /root" in ran.stderr


# Fair time.

def test_a_files_time_is_bounded_and_what_did_not_run_says_so(tmp_path):
    """Every answer loops: with 0.5 s of CPU time a call and 3 s for the file (the loops,
    one an exercise, need more), the file stops within its budget, and the exercises it did
    not reach say why."""
    loops = "".join(f"def {name}(*args):\n    while True:\n        pass\n"
                    for name in TRACKS["backprop"])
    graded = grade_file(write(tmp_path, "loops.py", loops),
                        Limits(time=0.5, start=20, file_budget=3))
    lines = [result.message for result in graded.results]
    assert len(lines) == len(TRACKS["backprop"]) and not any(r.passed for r in graded.results)
    assert lines[-1] == f"{NOT_RUN} (a file has 3 s of CPU time)", lines
    assert all(line.startswith(("failed: still running", NOT_RUN)) for line in lines), lines



@pytest.mark.parametrize("message", [1, 2])
def test_a_later_child_out_of_the_files_time_as_it_starts_leaves_the_rest_not_run(
        tmp_path, monkeypatch, message):
    """The file's time runs out while a later child starts (its first or second message,
    on a loaded machine): the exercises left are not run, never the grader's fault."""
    from exercises import runner
    received, calls = runner.Child.receive, []

    def receive(child, *args, **kwargs):
        calls.append(child)
        children = list(dict.fromkeys(calls))
        if len(children) == 2 and calls.count(child) == message:
            raise runner.OutOfTime("still running when the file's time ran out")
        return received(child, *args, **kwargs)

    monkeypatch.setattr(runner.Child, "receive", receive)
    loops = re.sub(r"(def relu2deriv\(.*:\n)", r"\1    while True:\n        pass\n", BACKPROP,
                   count=1)
    graded = grade_file(write(tmp_path, "loops.py", loops), Limits(time=0.5, start=20))
    lines = [result.message for result in graded.results]
    assert graded.environment is None and graded.error is None, graded.environment
    assert lines[0].startswith("failed: still running after 0.5 s"), lines
    assert lines[1:] == [f"{NOT_RUN} (a file has {Limits.file_budget:g} s of CPU time)"] \
        * (len(TRACKS["backprop"]) - 1), lines

SLOW = {  # how a correct relu2deriv spends its time on each call
    "waits 0.6 s, as a loaded machine makes it wait": "time.sleep(0.6)",
    "computes for 0.3 s of CPU time, 9 calls": (
        "t = time.process_time()\n    while time.process_time() - t < 0.3:\n        pass"),
}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="no CPU clock of a child "
                    "here (/proc): the limit is wall-clock time")
@pytest.mark.parametrize("case", SLOW)
def test_a_slow_correct_answer_passes_under_a_limit_a_call(case, tmp_path):
    """Under 0.5 s of CPU time a call: an answer that waits longer (its wall-clock time is
    not counted), and one whose calls each compute for 0.3 s (an exercise's 9 calls are not
    counted together)."""
    slow = ("import time\n_relu2deriv = relu2deriv\n"
            f"def relu2deriv(output):\n    {SLOW[case]}\n    return _relu2deriv(output)\n")
    graded = grade_file(write(tmp_path, "slow.py", BACKPROP + slow),
                        Limits(time=0.5, start=20))
    assert graded.all_passed, [str(result) for result in graded.results]


# Nothing outlives its file.

DAEMON = """
import os, time
def _daemon():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            with open({pids!r}, "a") as f:
                f.write(f"{{os.getpid()}}\\n")
            time.sleep(4)
            with open({target!r}, "w") as f:
                f.write("rewritten by a daemon")
        os._exit(0)
    os.wait()
_daemon()
"""


NO_FILTER = ("import sys\nif sys.argv[0].endswith('child.py'):\n"
             "    import ch9_shared.system\n"
             "    ch9_shared.system.forbid_new_processes = lambda: 'off for this test'\n")
"""A sitecustomize.py: the answers' process may start processes, as where the system has no
filter to forbid them (macOS, Windows, another machine)."""


@pytest.mark.skipif(not hasattr(os, "setsid") or not Path("/proc/self/stat").exists(),
                    reason="Linux: a subreaper and /proc find what leaves its session")
def test_a_setsid_daemon_does_not_outlive_its_file(tmp_path):
    """Where the answers may start processes (the filter faked off), the grader, their
    subreaper, still kills a daemon of theirs when their file is graded."""
    (tmp_path / "site").mkdir()
    target = write(tmp_path, "grades.csv", "the grades\n")
    pids = tmp_path / "pids"
    answers = write(tmp_path, "daemon.py", BACKPROP + DAEMON.format(
        pids=str(pids), target=str(target)))
    ran = check_exercises(str(answers), env=with_site(tmp_path / "site", NO_FILTER))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    started = [int(pid) for pid in pids.read_text(encoding="utf-8").split()]
    assert started
    for pid in started:
        assert not Path(f"/proc/{pid}").exists(), f"daemon {pid} outlived its file"
    time.sleep(5)  # past the moment the daemon would have written
    assert target.read_text(encoding="utf-8") == "the grades\n"


# Nothing outlives the grader, however it ends; a signal ends the answers at once.

LOOPS = """
import os
with open({pids!r}, "a") as f:
    f.write(f"{{os.getpid()}}\\n")
def relu2deriv(output):
    with open({looping!r}, "w") as f:
        f.write("looping")
    while True:
        pass
"""
"""Answers that record their process's pid, then loop in the first exercise."""
STARTS = """
import os, subprocess, time
def _started(pid):
    with open({pids!r}, "a") as f:
        f.write(f"{{pid}}\\n")
def _fork():
    if os.fork() == 0:
        _started(os.getpid())
        time.sleep(600)
        os._exit(0)
def _daemon():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            _started(os.getpid())
            time.sleep(600)
        os._exit(0)
    os.wait()
for _start in (_fork, lambda: _started(subprocess.Popen(["sleep", "600"]).pid), _daemon):
    try:
        _start()
    except OSError:
        pass
"""
"""Answers that start a fork, a `sleep` and a daemon of their own session (each, where
they may), each recording its pid."""


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie has ended: its parent has yet to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def grading(tmp_path: Path, text: str, env: dict[str, str] | None = None
            ) -> tuple[subprocess.Popen[str], list[int]]:
    """The grader, in a process group of its own, on answers `text` (LOOPS and what comes
    before it) once they loop, with an hour of CPU time a call; the pids the answers
    recorded."""
    pids, looping = tmp_path / "pids", tmp_path / "looping"
    answers = write(tmp_path, "loops.py", text.format(pids=str(pids), looping=str(looping)))
    grader = subprocess.Popen([sys.executable, "scripts/check_exercises.py", str(answers),
                               "--time-limit", "3600", "--csv", str(tmp_path / "g.csv")],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              encoding="utf-8", env=env or child_env(PYTHONPATH=str(REPO)),
                              start_new_session=True)
    deadline = time.monotonic() + 120
    while not looping.exists() and grader.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert looping.exists(), grader.communicate()
    return grader, [int(pid) for pid in pids.read_text(encoding="utf-8").split()]


def survivors(pids: list[int]) -> list[int]:
    """The pids still running after a bounded wait (10 s: a hang guard, not a timing)."""
    deadline = time.monotonic() + 10
    while any(map(alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


LINUX = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux: /proc "
                           "finds the answers' process, and only Linux has a parent-death "
                           "signal")


@LINUX
@pytest.mark.parametrize("number, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_a_looping_answer_at_once(tmp_path, number, status):
    """Ctrl-C (or SIGTERM) while an answer loops, with an hour of CPU time a call left: the
    grader kills the answers' process at once and ends in its one line, writing nothing."""
    grader, (child,) = grading(tmp_path, LOOPS)
    grader.send_signal(number)
    try:
        _, err = grader.communicate(timeout=30)  # a hang guard, not a timing
    except subprocess.TimeoutExpired:
        grader.kill()
        grader.communicate()
        pytest.fail(f"still running 30 s after {signal.Signals(number).name}")
    assert grader.returncode == status and err.count("\n") == 1, err
    assert err.startswith(f"scripts/check_exercises.py: stopped by {signal.Signals(number).name}")
    assert not (tmp_path / "g.csv").exists()
    assert survivors([child]) == []


FILTER = pytest.mark.skipif(not has_process_filter(), reason="a seccomp filter: Linux on "
                            "x86-64 or ARM64")


@LINUX
@pytest.mark.parametrize("how, filtered", [
    pytest.param("SIGKILL", True, marks=FILTER, id="SIGKILL"),
    pytest.param("SIGHUP to its group", True, marks=FILTER, id="SIGHUP to its group"),
    pytest.param("SIGINT", True, marks=FILTER, id="SIGINT"),
    pytest.param("SIGINT", False, id="SIGINT, no filter"),
    pytest.param("SIGTERM", False, id="SIGTERM, no filter")])
def test_nothing_an_answer_starts_outlives_the_grader(tmp_path, how, filtered):
    """The grader killed with no chance to clean up (SIGKILL), its terminal closed (SIGHUP to
    its process group) or stopped by Ctrl-C while an answer loops, after the answers tried
    to start a fork, a `sleep` and a daemon that left their session: every process of
    theirs is gone. Where no filter forbids those (faked off), they start, and a signal
    that stops the grader still ends them."""
    if not filtered:
        (tmp_path / "site").mkdir()
    grader, started = grading(tmp_path, STARTS + LOOPS,
                              None if filtered else with_site(tmp_path / "site", NO_FILTER))
    try:
        assert len(started) == (1 if filtered else 4), started
        {"SIGKILL": grader.kill, "SIGHUP to its group": lambda: os.killpg(grader.pid,
                                                                          signal.SIGHUP),
         "SIGINT": lambda: grader.send_signal(signal.SIGINT),
         "SIGTERM": lambda: grader.send_signal(signal.SIGTERM)}[how]()
        try:
            grader.communicate(timeout=30)  # a hang guard, not a timing
        except subprocess.TimeoutExpired:
            grader.kill()
            grader.communicate()
        left = survivors(started)
        assert left == [], f"{len(left)} of the answers' {len(started)} processes left"
    finally:
        for pid in filter(alive, started):  # this test's own, left where it fails
            os.kill(pid, signal.SIGKILL)


@FILTER
def test_an_answer_may_start_no_process(tmp_path):
    """An answer that runs a command fails with what it raised; the others pass."""
    runs = ("import subprocess\n_relu2deriv = relu2deriv\n"
            "def relu2deriv(output):\n    subprocess.run(['true'])\n"
            "    return _relu2deriv(output)\n")
    graded = grade_file(write(tmp_path, "runs.py", BACKPROP + runs), QUICK)
    first, *others = graded.results
    assert first.status == "wrong" and "PermissionError" in first.message, first.message
    assert all(result.passed for result in others)


# The same rows, every run.

@needs_torch
def test_identical_copies_get_identical_rows_beside_a_busy_core(tmp_path):
    """Two copies of each track's solutions and a wrong autograd file, graded twice with
    --jobs 2 while another process keeps a core busy: the same rows, each copy's alike."""
    wrong = AUTOGRAD.replace("nn.Dropout(0.5)", "nn.Dropout(0.2)")
    files = [write(tmp_path, f"{name}.py", text) for name, text in [
        ("a1", AUTOGRAD), ("a2", AUTOGRAD), ("b1", BACKPROP), ("b2", BACKPROP),
        ("w1", wrong), ("w2", wrong)]]
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        texts = []
        for run in range(2):
            grades = tmp_path / f"run{run}.csv"
            check_exercises(*map(str, files), "--jobs", "2", "--csv", str(grades))
            texts.append(book(grades))
    finally:
        busy.kill()
        busy.wait()
    assert texts[0] == texts[1]
    rows = {row["student"]: {k: v for k, v in row.items() if k not in ("student", "file")}
            for row in texts[0]}
    assert rows["a1"] == rows["a2"] and rows["b1"] == rows["b2"] and rows["w1"] == rows["w2"]
    assert rows["a1"]["points"] == COUNTS["autograd"]
    assert rows["b1"]["points"] == COUNTS["backprop"]
    assert rows["w1"]["points"] != COUNTS["autograd"]


# Gradescope.

@pytest.mark.parametrize("visibility", ["visible", "hidden", "after_due_date",
                                        "after_published"])
def test_visibility_reaches_every_test_of_results_json(visibility, tmp_path, script):
    answers = write(tmp_path, "alice.py", BACKPROP)
    ran = script("check_exercises.py", [str(answers), "--gradescope",
                                        str(tmp_path / "r.json"), "--visibility", visibility])
    assert ran.returncode == 0, ran.stderr
    results = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert results["visibility"] == visibility
    assert {test["visibility"] for test in results["tests"]} == {visibility}


def test_a_visibility_gradescope_lacks_is_one_line(tmp_path, script):
    answers = write(tmp_path, "alice.py", BACKPROP)
    ran = script("check_exercises.py", [str(answers), "--visibility", "students"])
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1 and "--visibility" in ran.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="Gradescope's scripts are bash")
def test_run_autograder_writes_results_json_when_the_grader_fails(tmp_path):
    """A grader that cannot even start (its Python exits at once): results.json still
    says the grade is 0 and why, as the autograder's fault."""
    root = tmp_path / "autograder"
    for folder in ("venv/bin", "source/exercises", "submission"):
        (root / folder).mkdir(parents=True)
    python = write(root / "venv" / "bin", "python",
                   "#!/bin/sh\necho 'Error: \"no\\\\ numpy\"' >&2\nexit 1\n")
    python.chmod(0o755)
    write(root / "submission", "answers.py", BACKPROP)
    ran = subprocess.run(["bash", str(REPO / "scripts" / "autograder" / "run_autograder")],
                         env=child_env(AUTOGRADER_ROOT=str(root)), capture_output=True,
                         encoding="utf-8", timeout=60)
    assert ran.returncode == 0, ran.stderr
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"].startswith("The autograder failed, not your answers (exit "
                                        "status 1): Error: \"no\\ numpy\"")


@pytest.mark.skipif(sys.platform == "win32", reason="Gradescope's scripts are bash")
def test_setup_installs_only_what_grading_needs():
    """The system's Python (never one under /root), torch pinned to the CPU build the
    project was tested with, no torchvision or SciPy, and no endless retries."""
    setup = (REPO / "scripts" / "autograder" / "setup.sh").read_text(encoding="utf-8")
    assert "/usr/bin/python3 -m venv" in setup
    assert re.search(r"^torch_version=\d+\.\d+\.\d+$", setup, re.M)
    assert '"torch==$torch_version" --index-url https://download.pytorch.org/whl/cpu' in setup
    assert "torchvision" not in setup.replace("Not torchvision", "")
    assert "[torch]" not in setup and "--retries 2" in setup


def test_an_answer_that_rewrites_the_checks_changes_nothing(tmp_path):
    """The grader imports its checks before any answer runs: an answer that appends to
    exercises/backprop_checks.py (in a copy of the project: locally the answers' user may
    write it; on Gradescope, nobody may not) changes nothing in this run."""
    import shutil
    for name in ("ch9_shared", "exercises", "numpy_impl", "torch_impl", "scripts"):
        shutil.copytree(REPO / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    checks = tmp_path / "exercises" / "backprop_checks.py"
    vandal = (f"with open({str(checks)!r}, 'a', encoding='utf-8') as f:\n"
              "    f.write('\\nraise RuntimeError(\"the checks were changed\")\\n')\n")
    answers = write(tmp_path, "vandal.py", BACKPROP + vandal)
    ran = subprocess.run([sys.executable, "scripts/check_exercises.py", str(answers)],
                         cwd=tmp_path, capture_output=True, encoding="utf-8", timeout=600,
                         env=child_env(PYTHONPATH=str(tmp_path)))
    assert ran.returncode == 0 and ran.stdout.endswith(
        f"vandal.py: {COUNTS['backprop']} of {COUNTS['backprop']} passed\n"), ran.stderr
    assert "the checks were changed" in checks.read_text(encoding="utf-8")
