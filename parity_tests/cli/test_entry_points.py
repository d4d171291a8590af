"""Every entry point as careful as scripts/train.py: one thread policy for every trainer and
script, one line and exit 2 for bad input, and no output path that replaces what it should
not (another output, a device, a link)."""

from __future__ import annotations

import os
import stat

import pytest
from threadpoolctl import threadpool_limits

from ch9_shared.loop import train
from ch9_shared.threads import THREAD_VARIABLES, one_thread
from parity_tests import conftest
from parity_tests.conftest import (
    blas_threads,
    first_test_images,
    needs_fifo,
    needs_symlinks,
    needs_torch,
    run,
)

SHORT = conftest.SHORT_CONFIG.replace(hidden="tanh", mode="exact", iterations=3, test_size=100)


def threads() -> tuple[int, int]:
    """(NumPy's BLAS threads, torch's CPU threads)."""
    import torch

    return blas_threads(), torch.get_num_threads()


@pytest.fixture
def two_threads(monkeypatch):
    """Pools of 2 threads, whatever the test runner set; the user sets no thread count."""
    import torch

    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    with threadpool_limits(limits=2, user_api="blas"):
        yield
    torch.set_num_threads(before)


def run_trainer(name: str, dataset, during: list) -> None:
    data = first_test_images(dataset, 100)
    record = lambda *_: during.append(threads())  # noqa: E731
    if name == "torch":
        from torch_impl.hand_built import HandBuiltModel

        train(HandBuiltModel(SHORT, "cpu"), data, progress=record)
    elif name == "idiomatic":
        from torch_impl.idiomatic import Idiomatic
        train(Idiomatic(SHORT, "cpu"), data, progress=record)
    else:  # the study's trainer: no progress callback, so watch its masks being drawn
        from scripts import stacked
        real = stacked.dropout_masks
        stacked.dropout_masks = lambda *a: (record(), real(*a))[1]
        try:
            stacked.train_stack([SHORT, SHORT.replace(seed=2)], data, "cpu")
        finally:
            stacked.dropout_masks = real


@needs_torch
@pytest.mark.parametrize("trainer", ["torch", "idiomatic", "stacked"])
def test_every_trainer_runs_on_one_thread_and_gives_the_pools_back(trainer, dataset,
                                                                   two_threads):
    during: list[tuple[int, int]] = []
    run_trainer(trainer, dataset, during)
    assert during and set(during) == {(1, 1)}
    assert threads() == (2, 2)


@needs_torch
def test_the_policy_is_one_place_and_the_users_count_wins(two_threads, monkeypatch):
    with one_thread():
        assert threads() == (1, 1)
    assert threads() == (2, 2)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    with one_thread():
        assert threads() == (2, 2)


@needs_torch
@pytest.mark.parametrize("name, args", [
    ("compare.py", ["--iterations", "1", "--test-size", "100"]),
    ("study.py", ["--quick", "--seeds", "2"]),
    ("evaluate.py", ["CHECKPOINT", "--impl", "idiomatic", "--test-size", "100"]),
])
def test_every_script_runs_under_the_policy(name, args, two_threads, script, monkeypatch,
                                            tmp_path):
    """Each script's work runs inside one_thread(), and only there."""
    import ch9_shared.threads

    entered = []
    real = ch9_shared.threads.one_thread

    def watched():
        entered.append(threads())
        return real()
    for module in ("scripts.compare", "scripts.study", "scripts.evaluate"):
        monkeypatch.setattr(f"{module}.one_thread", watched)
    if name == "study.py":  # the policy is entered; the study itself is test_study's
        monkeypatch.setattr("scripts.study.run", lambda *a: threads()[1])
        args = [*args, "--out", str(tmp_path / "study")]
    if name == "evaluate.py":
        checkpoint = tmp_path / "run.npz"
        assert script("train.py", ["--iterations", "1", "--test-size", "100", "--quiet",
                                   "--save", str(checkpoint)]).returncode == 0
        args = [str(checkpoint), *args[1:]]
    ran = script(name, args)
    assert entered == [(2, 2)], ran.stderr
    assert ran.returncode == (1 if name == "study.py" else 0), ran.stderr


def one_line_exit_2(ran, *words: str) -> None:
    assert ran.returncode == 2 and ran.stdout == "", ran.stdout
    assert ran.stderr.count("\n") == 1 and "Traceback" not in ran.stderr, ran.stderr
    for word in words:
        assert word in ran.stderr, ran.stderr


@pytest.mark.parametrize("content", [b"", b"junk", b"PK\x03\x04 half a zip"])
@pytest.mark.parametrize("suffix", [".npz", ".ckpt"])
def test_an_unreadable_checkpoint_is_one_line(content, suffix, script, tmp_path):
    """An empty file (was EOFError), 4 bytes of junk (was struct.error), half a zip."""
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    for args in ([str(path)], ["--resume", str(path)]):
        one_line_exit_2(script("evaluate.py" if len(args) == 1 else "train.py", args),
                        f"error: {path}: not a ", "checkpoint")
    assert path.read_bytes() == content


@pytest.mark.parametrize("size", ["0", "-3"])
def test_evaluate_refuses_a_test_size_below_1(size, script, tmp_path):
    one_line_exit_2(script("evaluate.py", [str(tmp_path / "x.npz"), "--test-size", size]),
                    f"argument --test-size: must be at least 1, got {size}")


def test_evaluate_says_which_log_line_its_checkpoint_follows(script, tmp_path):
    path = tmp_path / "run.npz"
    script("train.py", ["--iterations", "12", "--test-size", "100", "--quiet", "--save",
                        str(path)])
    out = script("evaluate.py", [str(path), "--test-size", "100"]).stdout
    assert "its last line, I:10, is after 11 of these 12" in out


def test_evaluate_usage_errors_are_one_line(script):
    one_line_exit_2(script("evaluate.py", []), "the following arguments are required")


@needs_torch
def test_compare_says_a_divergence_in_one_line(script):
    one_line_exit_2(script("compare.py", ["--alpha", "1e6", "--iterations", "2",
                                          "--test-size", "100"]),
                    "the weights overflowed", "lower --alpha")


@pytest.mark.parametrize("flags", [["--save", "X", "--metrics", "X"],
                                   ["--resume", "X", "--metrics", "X"]])
def test_two_outputs_on_one_path_are_refused(flags, script, tmp_path):
    path = tmp_path / "X"
    if "--resume" in flags:
        assert script("train.py", ["--iterations", "1", "--quiet", "--test-size", "100",
                                   "--save", str(path)]).returncode == 0
    else:
        path.write_bytes(b"what was there")
    before = path.read_bytes()
    ran = script("train.py", [str(path) if f == "X" else f for f in flags])
    one_line_exit_2(ran, "--resume reads" if "--resume" in flags else "name the same file",
                    str(path))
    assert path.read_bytes() == before


def test_resume_and_save_may_share_a_path(script, tmp_path):
    path = str(tmp_path / "run.npz")
    common = ["--quiet", "--test-size", "100", "--save", path]
    assert script("train.py", ["--iterations", "1", *common]).returncode == 0
    assert script("train.py", ["--iterations", "2", "--resume", path, *common]).returncode == 0


@needs_fifo
def test_a_path_that_is_not_a_regular_file_is_refused_not_replaced(script, tmp_path):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    for flags in (["--save", str(pipe)], ["--metrics", str(pipe)]):
        one_line_exit_2(script("train.py", ["--iterations", "1", *flags]),
                        "that is not a regular file")
        assert stat.S_ISFIFO(os.lstat(pipe).st_mode)
    if os.path.exists("/dev/full") and os.access("/dev", os.W_OK):  # root: it could be replaced
        one_line_exit_2(script("train.py", ["--iterations", "1", "--save", "/dev/full"]),
                        "not a regular file")
        assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)


@needs_symlinks
def test_a_symbolic_link_is_written_through(script, tmp_path):
    target, link = tmp_path / "target.npz", tmp_path / "link.npz"
    target.write_bytes(b"old")
    link.symlink_to(target)
    assert script("train.py", ["--iterations", "1", "--quiet", "--test-size", "100",
                               "--save", str(link)]).returncode == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes()[:2] == b"PK"  # the checkpoint, through the link
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.npz", "target.npz"]


@pytest.mark.parametrize("other", ["--save", "--metrics"])
def test_the_plot_folder_is_no_other_output(other, script, tmp_path):
    """--plot X with --save X trained, wrote the checkpoint, then failed on the folder."""
    path = tmp_path / "X"
    one_line_exit_2(script("train.py", ["--iterations", "1", other, str(path), "--plot",
                                        str(path)]), "name the same file")
    assert not path.exists()


@needs_symlinks
@needs_torch
def test_a_link_to_nothing_is_no_output_folder(script, tmp_path):
    link = tmp_path / "figures"
    link.symlink_to(tmp_path / "nowhere")
    one_line_exit_2(script("train.py", ["--iterations", "1", "--plot", str(link)]),
                    "a symbolic link to nothing")
    one_line_exit_2(script("figures.py", ["--out", str(link)]), "a symbolic link to nothing")
    assert link.is_symlink() and not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("name", ["compare.py", "figures.py", "study.py"])
def test_a_script_of_the_torch_extra_without_it_is_one_line(name):
    ran = run([f"scripts/{name}", "--help"], block_torch=True)
    one_line_exit_2(ran, f"scripts/{name}: error: scripts/{name} needs torch",
                    "pip install -e '.[torch]'")


def test_a_note_never_comes_before_a_refusal(script, tmp_path):
    """Sigmoid in book mode has a note; the NumPy trainer refuses --rng torch (its own check,
    after the notes were printed, which made two lines): one line."""
    ran = script("train.py", ["--hidden", "sigmoid", "--rng", "torch"])
    one_line_exit_2(ran, "--rng torch are for --impl torch or idiomatic")
    noted = script("train.py", ["--hidden", "sigmoid", "--iterations", "1", "--test-size",
                                "100"])
    assert noted.returncode == 0 and "note: " in noted.stderr


@pytest.mark.parametrize("name", ["train.py", pytest.param("compare.py", marks=needs_torch)])
def test_a_hidden_layer_too_big_for_memory_is_one_line(name, script):
    one_line_exit_2(script(name, ["--hidden-size", str(10**30)]),
                    "hidden_size must be at most 1048576")


@needs_torch
def test_a_divergence_in_compare_prints_no_warnings():
    """In a process of its own, where NumPy's RuntimeWarnings reach standard error."""
    one_line_exit_2(run(["scripts/compare.py", "--iterations", "1", "--train-size", "100",
                         "--test-size", "100", "--init-0-1", "1e308"]),
                    "the weights overflowed")
