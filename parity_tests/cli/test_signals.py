"""Signals at moments the test controls, in real processes: one line on standard error, no
traceback, no temporary file, the last checkpoint whole, status 128 + the signal's number
(130 for SIGINT, 143 for SIGTERM, and so on for every signal that ends a program by default)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ch9_shared.checkpoint import load_checkpoint
from ch9_shared.files import TEMP_PREFIX
from parity_tests.conftest import REPO, child_env, importable, needs_signal, needs_torch

SIGNALS = [pytest.param("SIGINT"), pytest.param("SIGTERM", marks=needs_signal("SIGTERM"))]
OTHER_SIGNALS = [pytest.param(name, marks=needs_signal(name))
                 for name in ("SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGXCPU")]
"""Signals that end a program by default, as SIGTERM does: a terminal closed, a quit key, a
user's kill, a timer, a CPU-time limit."""
RUN = ["--test-size", "100", "--log-every", "1"]

HOOK = """import os, runpy, signal, sys
sys.argv = sys.argv[1:]
number = getattr(signal, {signal!r})
{hook}
runpy.run_path(sys.argv[0], run_name="__main__")
"""
DURING_WRITE = """from ch9_shared import files
writes = [0]
write = files._Recording.write
def hooked(self, data):
    writes[0] += 1
    if writes[0] == {nth}:
        os.kill(os.getpid(), number)
    return write(self, data)
files._Recording.write = hooked"""
"""The signal in the middle of the nth write to a file (a checkpoint's, say)."""
AFTER_PARSING = """import argparse
parse = argparse.ArgumentParser.parse_args
def hooked(self, *args, **kwargs):
    parsed = parse(self, *args, **kwargs)
    os.kill(os.getpid(), number)
    return parsed
argparse.ArgumentParser.parse_args = hooked"""
"""The signal as the script's main has read its flags and begins its work."""


def hooked(script: str, args: list[str], name: str, hook: str,
           cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `script` with `hook` set up first, which sends signal `name` at its moment."""
    code = HOOK.format(signal=name, hook=hook)
    return subprocess.run([sys.executable, "-c", code, str(REPO / script), *args], cwd=cwd,
                          capture_output=True, encoding="utf-8", env=child_env(), timeout=600)


def stopped_cleanly(returncode: int, stderr: str, name: str, folder: Path) -> None:
    assert returncode == 128 + getattr(signal, name), stderr
    assert stderr.count("\n") == 1 and f"stopped by {name}" in stderr, stderr
    assert "Traceback" not in stderr
    assert not list(folder.glob(f"{TEMP_PREFIX}*"))


@pytest.mark.parametrize("impl", ["numpy", pytest.param("torch", marks=needs_torch)])
@pytest.mark.parametrize("name", SIGNALS)
def test_a_signal_after_a_log_line_leaves_the_last_checkpoint_and_how_to_resume(
        impl, name, tmp_path):
    checkpoint = tmp_path / "run.ckpt"
    process = subprocess.Popen(
        [sys.executable, str(REPO / "scripts/train.py"), "--impl", impl, *RUN, "--save",
         str(checkpoint), "--save-every", "1"], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, encoding="utf-8", env=child_env())
    # I:1 is logged after iteration 1 began, so after the first checkpoint (the log is
    # tested on another thread, and I:0 may come out before it)
    assert [process.stdout.readline()[:4] for _ in range(2)] == ["I:0 ", "I:1 "]
    process.send_signal(getattr(signal, name))
    _, stderr = process.communicate(timeout=600)
    stopped_cleanly(process.returncode, stderr, name, tmp_path)
    assert f"--resume {checkpoint}" in stderr
    saved = load_checkpoint(checkpoint)  # whole, and not the end of the run
    assert 1 <= saved.iteration < saved.config.iterations


@pytest.mark.parametrize("impl", ["numpy", pytest.param("torch", marks=needs_torch)])
@pytest.mark.parametrize("name", SIGNALS)
def test_a_signal_during_a_checkpoint_write_waits_for_the_write(impl, name, tmp_path):
    """The third write to a file is inside the first checkpoint (a checkpoint is many
    writes): the run stops after it, with that checkpoint whole."""
    checkpoint = tmp_path / "run.ckpt"
    ran = hooked("scripts/train.py", ["--impl", impl, *RUN, "--save", str(checkpoint),
                                      "--save-every", "1"],
                 name, DURING_WRITE.format(nth=3), tmp_path)
    stopped_cleanly(ran.returncode, ran.stderr, name, tmp_path)
    assert "after 1 iterations" in ran.stderr and f"--resume {checkpoint}" in ran.stderr
    assert load_checkpoint(checkpoint).iteration == 1


@pytest.mark.parametrize("name", OTHER_SIGNALS)
def test_every_signal_that_ends_a_program_ends_a_run_as_sigterm_does(name, tmp_path):
    """Its checkpoint write finished, the logged metrics written, one line, 128 + n."""
    checkpoint, metrics = tmp_path / "run.ckpt", tmp_path / "metrics.jsonl"
    ran = hooked("scripts/train.py", [*RUN, "--save", str(checkpoint), "--save-every", "1",
                                      "--metrics", str(metrics)],
                 name, DURING_WRITE.format(nth=3), tmp_path)
    stopped_cleanly(ran.returncode, ran.stderr, name, tmp_path)
    assert f"--resume {checkpoint}" in ran.stderr
    assert load_checkpoint(checkpoint).iteration == 1
    assert len(metrics.read_text(encoding="utf-8").splitlines()) == 1


@pytest.mark.skipif(not importable("resource"), reason="no resource module (Windows)")
def test_the_cpu_time_limit_stops_a_run_in_one_line(tmp_path):
    """`ulimit -S -t`: SIGXCPU at the soft limit, one line that names the limit, 152."""
    def soft_cpu_limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_CPU, (1, resource.getrlimit(resource.RLIMIT_CPU)[1]))

    ran = subprocess.run([sys.executable, str(REPO / "scripts/train.py"), "--iterations",
                          "100000", "--quiet"], cwd=tmp_path, capture_output=True,
                         encoding="utf-8", env=child_env(), timeout=600,
                         preexec_fn=soft_cpu_limit)
    stopped_cleanly(ran.returncode, ran.stderr, "SIGXCPU", tmp_path)
    assert "ulimit -t" in ran.stderr


WHILE_STOPPING = """import scripts.cli
train_from_flags, stopped = scripts.cli.train_from_flags, scripts.cli.stopped
def training(*args, **kwargs):
    os.kill(os.getpid(), number)
    return train_from_flags(*args, **kwargs)
def stopping(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM if number == signal.SIGINT else signal.SIGINT)
    return stopped(*args, **kwargs)
scripts.cli.train_from_flags, scripts.cli.stopped = training, stopping"""
"""The signal as training begins, and the other one while the first one's line is made."""
AT_EXIT = """import atexit
atexit.register(lambda: [os.kill(os.getpid(), number), sum(range(1000))])"""
"""The signal among the exit handlers, after the work (torch registers its own there)."""
IN_A_FINALIZER = """import gc
class Dying:
    def __del__(self):
        os.kill(os.getpid(), number)
        sum(range(1000))  # Python runs the handler here, where it cannot raise
def hooked(*args, **kwargs):
    dying = Dying()
    dying.cycle = dying
    del dying
    gc.collect()
    return parse(*args, **kwargs)
import argparse
parse = argparse.ArgumentParser.parse_args
argparse.ArgumentParser.parse_args = hooked"""
"""The signal while a finalizer runs (a __del__, as torch's start-up runs some), where Python
prints the exception and goes on."""


IN_AN_IMPORT = """class Importing:
    def find_spec(self, name, path, target=None):
        if name == "numpy":
            sys.meta_path.remove(self)
            try:
                os.kill(os.getpid(), number)
                sum(range(1000))
            except KeyboardInterrupt as e:
                raise ImportError("an extension's import turned the signal into this") from e
sys.meta_path.insert(0, Importing())"""
"""The signal while NumPy loads, which an extension's import turns into an ImportError
(NumPy's own C code does: "PyCapsule_Import could not import module datetime")."""


@pytest.mark.parametrize("name", SIGNALS)
def test_a_signal_an_import_turns_into_an_error_still_stops_in_one_line(name, tmp_path):
    ran = hooked("scripts/train.py", RUN, name, IN_AN_IMPORT, tmp_path)
    stopped_cleanly(ran.returncode, ran.stderr, name, tmp_path)
    assert "while starting" in ran.stderr


@pytest.mark.parametrize("name", SIGNALS)
def test_a_second_signal_while_the_first_is_handled_changes_nothing(name, tmp_path):
    ran = hooked("scripts/train.py", [*RUN, "--iterations", "2"], name, WHILE_STOPPING,
                 tmp_path)
    stopped_cleanly(ran.returncode, ran.stderr, name, tmp_path)


@pytest.mark.parametrize("name", SIGNALS)
def test_a_signal_among_the_exit_handlers_after_the_work_changes_nothing(name, tmp_path):
    ran = hooked("scripts/train.py", [*RUN, "--iterations", "2", "--quiet"], name, AT_EXIT,
                 tmp_path)
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr
    assert len(ran.stdout.splitlines()) == 2


SLOW_THREADS = """import threading, time
start = threading.Thread.start
def slow_start(self):
    start(self)
    time.sleep(0.2)
threading.Thread.start = slow_start"""
"""A loaded machine, where the thread that sends a signal again may send it before the
hook that started it has returned."""


@pytest.mark.parametrize("load", ["", SLOW_THREADS], ids=["idle", "slow threads"])
@pytest.mark.parametrize("name", SIGNALS)
def test_a_signal_in_a_finalizer_still_stops_the_script(name, load, tmp_path):
    ran = hooked("scripts/train.py", [*RUN, "--iterations", "2"], name,
                 f"{load}\n{IN_A_FINALIZER}", tmp_path)
    stopped_cleanly(ran.returncode, ran.stderr, name, tmp_path)
    assert ran.stdout == ""


@pytest.mark.parametrize("name", SIGNALS)
def test_a_signal_during_the_metrics_write_leaves_them_whole(name, tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    ran = hooked("scripts/train.py", [*RUN, "--iterations", "2", "--metrics", str(metrics)],
                 name, DURING_WRITE.format(nth=1), tmp_path)
    assert ran.returncode == 128 + getattr(signal, name), ran.stderr
    assert "Traceback" not in ran.stderr and not list(tmp_path.glob(f"{TEMP_PREFIX}*"))
    assert len(metrics.read_text(encoding="utf-8").splitlines()) == 2


@pytest.mark.parametrize("command", [
    ["scripts/train.py", "--iterations", "2"],
    pytest.param(["scripts/compare.py", "--iterations", "2", "--test-size", "100"],
                 marks=needs_torch),
    ["scripts/evaluate.py", "CHECKPOINT"],
    pytest.param(["scripts/study.py", "--quick"], marks=needs_torch),
    pytest.param(["scripts/figures.py", "--out", "figures"], marks=needs_torch),
    ["scripts/check_exercises.py"],
], ids=lambda command: Path(command[0]).stem)
@pytest.mark.parametrize("name", [*SIGNALS, OTHER_SIGNALS[0]])
def test_every_script_stops_in_one_line_with_the_signals_status(command, name, tmp_path):
    """Never 0 for an interrupted run (compare.py and evaluate.py said 0)."""
    if "CHECKPOINT" in command:
        checkpoint = tmp_path / "run.npz"
        assert subprocess.run([sys.executable, str(REPO / "scripts/train.py"), "--iterations",
                               "1", "--test-size", "100", "--quiet", "--save", str(checkpoint)],
                              capture_output=True, env=child_env()).returncode == 0
        command = [str(checkpoint) if arg == "CHECKPOINT" else arg for arg in command]
    ran = hooked(command[0], command[1:], name, AFTER_PARSING, tmp_path)
    stopped_cleanly(ran.returncode, ran.stderr, name, tmp_path)
    assert not [path for path in tmp_path.rglob("*") if path.suffix in (".png", ".json")]


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
def test_an_interrupted_or_failed_download_leaves_no_partial_file(error, tmp_path,
                                                                  monkeypatch):
    torchvision = pytest.importorskip("torchvision")
    from ch9_shared.data import DataError
    from torch_impl.datasets import fetch

    class Fetching:
        def __init__(self, root: Path, train: bool, download: bool) -> None:
            raw = Path(root) / "MNIST" / "raw"
            raw.mkdir(parents=True, exist_ok=True)
            (raw / "train-images-idx3-ubyte.gz").write_bytes(b"half a file")
            raise error("stopped half-way")

    monkeypatch.setattr(torchvision.datasets, "MNIST", Fetching)
    kept = tmp_path / "kept"
    kept.write_text("was there before", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt if error is KeyboardInterrupt else DataError):
        fetch("mnist", tmp_path)
    assert [path.name for path in tmp_path.iterdir()] == ["kept"]
