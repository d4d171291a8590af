"""What a learner sees besides the log: figures, metrics, and a progress bar only on a terminal."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ch9_shared import files
from parity_tests import conftest
from parity_tests.conftest import (
    NEEDS_TORCH,
    REFERENCE_LOG,
    REPO,
    can_symlink,
    child_env,
    needs_fifo,
    needs_pty,
)
from scripts.chapter_figures import CHAPTER_FIGURES
from scripts.cli import main

SHORT = [*conftest.SHORT, "--preset", "tanh", "--iterations", "21", "--log-every", "10",
         "--test-size", "1000"]


def test_plot_writes_the_four_figures(tmp_path, script):
    result = script("scripts/train.py", [*SHORT, "--plot", str(tmp_path / "figs")])
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert names == ["activations.png", "class_averages.png", "curves.png",
                     "weight_templates.png"]
    for name in names:
        data = (tmp_path / "figs" / name).read_bytes()
        assert data.startswith(b"\x89PNG") and 5_000 < len(data) < 200_000


def test_plot_without_matplotlib_is_one_line_before_training(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None; import runpy; "
            f"sys.argv = ['x', '--plot', {str(tmp_path)!r}]; "
            "runpy.run_path('scripts/train.py', run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            encoding="utf-8", env=child_env(), timeout=300)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "pip install -e '.[plot]'" in result.stderr


@pytest.mark.parametrize("impl", ["numpy", "torch"])
def test_metrics_has_one_json_line_per_logged_iteration(impl, tmp_path, script):
    if impl == "torch":
        pytest.importorskip("torch")
    path = tmp_path / "metrics.jsonl"
    result = script("scripts/train.py", ["--impl", impl, "--device", "cpu", *SHORT,
                                         "--metrics", str(path)])
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    logged = result.stdout.splitlines()
    assert [f"I:{m['iteration']} Test-Acc:{m['test_accuracy']} "
            f"Train-Acc:{m['train_accuracy']}" for m in lines] == logged
    assert {m["impl"] for m in lines} == {impl} and lines[0]["config"]["iterations"] == 21
    assert all(0 < m["train_loss"] < 3 and 0 < m["test_loss"] < 3 for m in lines)
    assert lines[-1]["test_loss"] < lines[0]["test_loss"]
    assert 0 <= lines[0]["seconds"] <= lines[-1]["seconds"]
    assert not list(tmp_path.glob(".*"))


def test_metrics_of_a_diverged_run_keep_the_finite_lines(tmp_path, script):
    path = tmp_path / "metrics.jsonl"
    result = script("scripts/train.py", ["--mode", "exact", "--output", "identity", "--alpha",
                                         "1e6", "--iterations", "5", "--log-every", "1",
                                         "--metrics", str(path)])
    assert result.returncode == 2
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(result.stdout.splitlines()) >= 1
    written = path.read_text(encoding="utf-8")
    assert "NaN" not in written and "Infinity" not in written


@pytest.mark.xdist_group("book_run")  # one run of the default command for both
def test_no_progress_bar_characters_when_stderr_is_not_a_terminal(book_run):
    result = book_run
    assert result.stdout == REFERENCE_LOG.read_text(encoding="utf-8")
    for stream in (result.stdout, result.stderr):
        assert "\r" not in stream and "\x1b" not in stream


@needs_pty
def test_progress_bar_on_a_terminal_leaves_stdout_as_the_log():
    """stderr on an 80-column pseudo-terminal: the bar shows there (the run, 450 iterations,
    takes well over the bar's 2 s), and stdout stays exactly the log: its first 300
    iterations are the book's."""
    import fcntl
    import pty
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = subprocess.Popen([sys.executable, "scripts/train.py", "--iterations", "450"],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=terminal,
                               encoding="utf-8", env=child_env())
    os.close(terminal)
    chunks: list[bytes] = []

    def read_terminal() -> None:
        with contextlib.suppress(OSError):  # EIO once the child has closed it
            while chunk := os.read(controller, 65536):
                chunks.append(chunk)

    reader = threading.Thread(target=read_terminal)
    reader.start()
    stdout, _ = process.communicate(timeout=600)
    reader.join(timeout=60)
    os.close(controller)
    assert process.returncode == 0
    lines = stdout.splitlines(keepends=True)
    assert len(lines) == 45 and "".join(lines[:30]) == REFERENCE_LOG.read_text(encoding="utf-8")
    shown = b"".join(chunks)
    assert b"it/s" in shown and b"/450 [" in shown


@pytest.mark.parametrize("flag", ["--metrics", "--save", "--plot"])
def test_a_write_that_fails_during_or_after_the_run_is_one_line(flag, tmp_path, monkeypatch,
                                                                capsys):
    """The folder was fine when the run started; the disk filled up before the write: a
    failure of the machine, status 1."""
    def disk_full(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", disk_full)
    status = main([*SHORT, "--iterations", "3", flag, str(tmp_path / "out"), "--quiet"],
                  prog="p")
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1 and "No space left on device" in err, err
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # no half-written file


def test_quiet_keeps_stderr_empty(script):
    result = script("scripts/train.py", [*SHORT, "--quiet"])
    assert result.returncode == 0 and result.stderr == ""
    assert len(result.stdout.splitlines()) == 3


# Every output is checked before the work: what would stop its write at the end stops the run
# at the start, in one line, exit 2.

def in_the_way(path: Path, kind: str) -> None:
    """Put something where a file is to be written that no file may replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()


THINGS_IN_THE_WAY = [pytest.param("fifo", marks=needs_fifo), "folder"]


@pytest.mark.parametrize("kind", THINGS_IN_THE_WAY)
@pytest.mark.parametrize("figure", CHAPTER_FIGURES)
def test_a_figure_that_cannot_be_written_stops_the_run_before_it_trains(figure, kind, tmp_path,
                                                                       script):
    in_the_way(tmp_path / "figs" / figure, kind)
    result = script("scripts/train.py", [*SHORT, "--plot", str(tmp_path / "figs"), "--save",
                                         str(tmp_path / "run.npz")])
    assert result.returncode == 2 and result.stdout == "", result.stderr  # no log: no training
    assert result.stderr.count("\n") == 1 and f"{figure} is " in result.stderr, result.stderr
    assert "move it away, or give another folder" in result.stderr
    assert not (tmp_path / "run.npz").exists()


@pytest.mark.parametrize("kind", [*THINGS_IN_THE_WAY, "the folder a pipe", "a link twice"])
@pytest.mark.parametrize("figure", ["curves_book_vs_exact.png", "book_slopes.png"])
def test_figures_checks_each_figure_before_it_trains(figure, kind, tmp_path, monkeypatch,
                                                     script):
    pytest.importorskip("torch", reason=NEEDS_TORCH)
    from scripts import figures

    monkeypatch.setattr(figures, "train", lambda *args: pytest.fail("it trained"))
    out = tmp_path / "figs"
    if kind == "the folder a pipe":
        if not hasattr(os, "mkfifo"):
            pytest.skip("needs os.mkfifo (a named pipe): not on Windows")
        os.mkfifo(out)
        words = "that is not a folder (a device or a pipe?)"
    elif kind == "a link twice":
        if not can_symlink():
            pytest.skip("cannot make a symbolic link here")
        out.mkdir()
        (out / figure).symlink_to(out / "weight_templates.png")
        words = "which are one file (a symbolic link?)"
    else:
        in_the_way(out / figure, kind)
        words = f"{figure} is "
    result = script("scripts/figures.py", ["--out", str(out)])
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert words in result.stderr, result.stderr


FILE_FLAGS = {  # script, the arguments before the flag, the flag: each writes one file
    "train --save": ("scripts/train.py", ["--iterations", "1", "--quiet"], "--save"),
    "train --metrics": ("scripts/train.py", ["--iterations", "1", "--quiet"], "--metrics"),
    "compare --json": ("scripts/compare.py", ["--iterations", "1"], "--json"),
    "bench --json": ("tools/bench.py", ["--quick", "--no-torch"], "--json"),
    "check_exercises --csv": ("scripts/check_exercises.py", [], "--csv"),
    "check_exercises --junit": ("scripts/check_exercises.py", [], "--junit"),
    "check_exercises --gradescope": ("scripts/check_exercises.py", [], "--gradescope"),
}


@pytest.mark.parametrize("ending", [os.sep, os.sep + "."])
@pytest.mark.parametrize("case", FILE_FLAGS)
def test_a_path_that_names_a_folder_is_refused_where_a_file_is_due(case, ending, tmp_path,
                                                                   script):
    """`--save ckpts/` wrote a file called ckpts."""
    name, before, flag = FILE_FLAGS[case]
    if name == "scripts/compare.py":
        pytest.importorskip("torch", reason=NEEDS_TORCH)
    result = script(name, [*before, flag, str(tmp_path / "ckpts") + ending])
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"argument {flag}: " in result.stderr and "that names a folder; give a file name" \
        in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_windows_path_that_ends_in_either_separator_names_a_folder(monkeypatch):
    monkeypatch.setattr(os, "sep", "\\")
    monkeypatch.setattr(os, "altsep", "/")
    for text in ("ckpts\\", "ckpts/", "C:\\runs\\.", "runs/.."):
        with pytest.raises(files.OutputError, match="that names a folder"):
            files.file_path(text)
    assert files.file_path("runs\\run.npz") == Path("runs\\run.npz")


def test_an_unknown_mplbackend_is_one_line_before_training(tmp_path):
    """matplotlib refuses an unknown MPLBACKEND when it is imported: a ValueError traceback,
    after the training where matplotlib is imported only to draw."""
    pytest.importorskip("matplotlib")
    result = subprocess.run([sys.executable, "scripts/train.py", *SHORT, "--plot",
                             str(tmp_path / "figs")], cwd=REPO, capture_output=True,
                            encoding="utf-8", env=child_env(MPLBACKEND="garbage"), timeout=300)
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "MPLBACKEND=garbage is not a matplotlib backend: unset it" in result.stderr
    assert not (tmp_path / "figs").exists()


def test_figures_checks_mplbackend_before_it_trains(monkeypatch, script):
    pytest.importorskip("matplotlib")  # imported here first: the check must not rely on it
    pytest.importorskip("torch", reason=NEEDS_TORCH)
    from scripts import figures

    monkeypatch.setattr(figures, "train", lambda *args: pytest.fail("it trained"))
    monkeypatch.setenv("MPLBACKEND", "garbage")
    result = script("scripts/figures.py", ["--out", "never"])
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "MPLBACKEND=garbage is not a matplotlib backend" in result.stderr
