"""Nothing lost, nothing wrong: bad input, divergence, checkpoints, resume after SIGKILL,
determinism, and the IDX reader under fuzzing."""

from __future__ import annotations

import gzip
import hashlib
import math
import re
import signal
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ch9_shared.checkpoint import IMPLS, load_checkpoint
from ch9_shared.data import FILES, DataError, read_idx
from parity_tests import conftest
from parity_tests.chapter.test_data import idx_bytes, write_dataset
from parity_tests.conftest import (
    REPO,
    child_env,
    needs_proc,
    needs_signal,
    needs_sys,
    needs_torch,
    run,
)
from scripts import train as train_py

SHORT = [*conftest.SHORT, "--iterations", "12", "--log-every", "10"]


def bad_data(tmp_path: Path, how: str) -> list[str]:
    """A data folder that is wrong in one way; returns the flags that use it."""
    write_dataset(tmp_path)
    images = tmp_path / FILES["train_images"]
    if how == "magic":
        images.write_bytes(b"\x1f\x8b" + images.read_bytes()[2:])
    elif how == "truncated":
        images.write_bytes(images.read_bytes()[:-100])
    elif how == "count":
        (tmp_path / FILES["train_labels"]).write_bytes(idx_bytes(np.zeros(29, np.uint8)))
    elif how == "size":
        images.write_bytes(idx_bytes(np.zeros((30, 20, 20), np.uint8)))
    elif how == "labels":
        (tmp_path / FILES["train_labels"]).write_bytes(idx_bytes(np.full(30, 12, np.uint8)))
    elif how == "unreadable":  # a damaged .gz (permissions would not stop root)
        labels = tmp_path / FILES["train_labels"]
        labels.unlink()
        labels.with_name(labels.name + ".gz").write_bytes(b"this is not gzip data")
    return ["--data-dir", str(tmp_path), "--train-size", "20", "--batch-size", "10",
            "--test-size", "20"]


def checkpoint(tmp_path: Path, *flags: str) -> Path:
    path = tmp_path / "made.npz"
    assert train_py.main([*SHORT, "--iterations", "2", "--save", str(path), "--quiet",
                          *flags]) == 0
    return path


CASES = {
    "missing data folder": (lambda p: ["--data-dir", str(p / "nowhere")], "does not exist"),
    "data folder is a file": (lambda p: ["--data-dir", str(REPO / "README.md")], "not a folder"),
    "unreadable file": (lambda p: bad_data(p, "unreadable"), "cannot read"),
    "wrong magic": (lambda p: bad_data(p, "magic"), "wrong magic number"),
    "truncated file": (lambda p: bad_data(p, "truncated"), "truncated"),
    "image and label counts differ": (lambda p: bad_data(p, "count"), "30 images but 29 labels"),
    "images not 28x28": (lambda p: bad_data(p, "size"), "the network takes 28x28"),
    "labels out of range": (lambda p: bad_data(p, "labels"), "out of range"),
    "zero alpha": (lambda p: ["--alpha", "0"], "above 0"),
    "negative batch size": (lambda p: ["--batch-size", "-5"], "at least 1"),
    "non-finite alpha": (lambda p: ["--alpha", "inf"], "finite"),
    "non-numeric hidden size": (lambda p: ["--hidden-size", "ten"], "not an integer"),
    "batch larger than training set": (lambda p: ["--batch-size", "2000"], "larger than"),
    "train size beyond the data": (lambda p: ["--train-size", "1200"], "there are 1000"),
    "test size beyond the data": (lambda p: ["--test-size", "10001"], "there are 10000"),
    "unknown preset": (lambda p: ["--preset", "swish"], "invalid choice"),
    "unknown activation": (lambda p: ["--hidden", "gelu"], "invalid choice"),
    "unknown mode": (lambda p: ["--mode", "fast"], "invalid choice"),
    "unknown dtype": (lambda p: ["--dtype", "float16"], "invalid choice"),
    "not a checkpoint": (lambda p: ["--resume", str(REPO / "README.md")], "not a checkpoint"),
    "checkpoint of another shape": (
        lambda p: ["--resume", str(checkpoint(p, "--hidden-size", "50"))], "hidden_size=50"),
    "checkpoint of another implementation": (
        lambda p: ["--impl", "torch", "--resume", str(checkpoint(p))], "--impl numpy"),
    "checkpoint of another config": (
        lambda p: ["--mode", "exact", "--resume", str(checkpoint(p))], "mode='book'"),
}
CASES["cuda without a GPU"] = (lambda p: ["--impl", "torch", "--device", "cuda"], "no CUDA")
CASES["mps without MPS"] = (lambda p: ["--impl", "torch", "--device", "mps", "--dtype",
                                       "float32"], "no usable Apple GPU")
FILE = REPO / "README.md"
OUTPUT_CASES = {  # a folder where a file is expected, a file where a folder is, no way to write
    "--metrics is a folder": (lambda p: ["--metrics", str(p)], "that is a folder"),
    "--save is a folder": (lambda p: ["--save", str(p)], "that is a folder"),
    "--plot is a file": (lambda p: ["--plot", str(FILE)], "that is a file"),
    "--metrics in a missing folder": (lambda p: ["--metrics", str(p / "no" / "m.jsonl")],
                                      "does not exist"),
    "--save under a file": (lambda p: ["--save", str(FILE / "run.npz")], "is a file, not a"),
    "--plot under a file": (lambda p: ["--plot", str(FILE / "figures")], "is a file, not a"),
    "--metrics where nothing can be written": (lambda p: ["--metrics", "/proc/m.jsonl"],
                                               "cannot write in /proc"),
    "--plot where nothing can be written": (lambda p: ["--plot", "/sys/figures"],
                                            "cannot write in /sys"),
}
CASES.update(OUTPUT_CASES)


NEEDS = {"--metrics where nothing can be written": needs_proc,
         "--plot where nothing can be written": needs_sys,
         "checkpoint of another implementation": needs_torch,
         "cuda without a GPU": needs_torch, "mps without MPS": needs_torch}


def has_the_gpu(case: str) -> bool:
    """Whether the GPU the case asks for is there after all (the case then has no error)."""
    import torch

    from torch_impl.device import mps_usable

    return torch.cuda.is_available() if case == "cuda without a GPU" else mps_usable()


@pytest.mark.parametrize("case", [pytest.param(case, marks=NEEDS.get(case, ()))
                                  for case in CASES])
def test_bad_input_is_one_line_exit_2_and_no_file(case, tmp_path, script):
    """Found before training (outputs: the case's flag comes last, so it is the one used)."""
    if case in ("cuda without a GPU", "mps without MPS") and has_the_gpu(case):
        pytest.skip("this machine has that GPU")
    flags, message = CASES[case]
    outputs = tmp_path / "out"
    outputs.mkdir()
    result = script("scripts/train.py", [*SHORT, "--save", str(outputs / "run.npz"),
                                         "--metrics", str(outputs / "metrics.jsonl"), "--plot",
                                         str(outputs / "figures"), *flags(tmp_path)])
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert list(outputs.iterdir()) == []


@pytest.mark.parametrize(("impl", "flags"), [
    ("numpy", ["--alpha", "1e4"]),  # the book's softmax overflows: exp of a logit above 709
    ("numpy", ["--mode", "exact", "--output", "identity", "--alpha", "1e6"]),
    pytest.param("torch", ["--mode", "exact", "--output", "identity", "--alpha", "1e6"],
                 marks=needs_torch),
])
def test_divergence_stops_at_the_iteration_and_saves_no_nan(impl, flags, tmp_path, script):
    """The run names the iteration, in one line, and its files hold only what came before."""
    save, metrics = tmp_path / "run.ckpt", tmp_path / "metrics.jsonl"
    result = script("scripts/train.py", ["--impl", impl, "--device", "cpu", *flags,
                                         "--iterations", "8", "--log-every", "1", "--save",
                                         str(save), "--save-every", "1", "--metrics",
                                         str(metrics)])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr  # no RuntimeWarning lines either
    assert re.search(r"error: iteration \d+: .* lower --alpha", result.stderr)
    if metrics.exists():
        written = metrics.read_text(encoding="utf-8")
        assert "NaN" not in written and "Infinity" not in written
    if save.exists():
        saved = load_checkpoint(save)
        assert np.isfinite(saved.weights_0_1).all() and np.isfinite(saved.weights_1_2).all()


@needs_signal("SIGKILL")
@pytest.mark.parametrize("impl", ["numpy", pytest.param("torch", marks=needs_torch),
                                  pytest.param("idiomatic", marks=needs_torch)])
def test_killed_and_resumed_run_ends_bit_identical(impl, tmp_path, script):
    """The run that is killed runs in a process of its own; the others need not."""
    args = ["--impl", impl, "--device", "cpu", "--preset", "relu", "--iterations", "60",
            "--test-size", "2000"]
    whole = script("scripts/train.py", [*args, "--save", str(tmp_path / "whole.npz")])
    assert whole.returncode == 0, whole.stderr

    part = tmp_path / "part.npz"
    process = subprocess.Popen([sys.executable, "scripts/train.py", *args, "--save", str(part),
                                "--save-every", "7"],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               encoding="utf-8", env=child_env())
    printed = []
    for line in process.stdout:
        printed.append(line)
        if line.startswith("I:30 "):
            process.send_signal(signal.SIGKILL)
            break
    process.wait()
    assert process.returncode == -signal.SIGKILL
    done = load_checkpoint(part).iteration
    assert 0 < done < 60 and done % 7 == 0

    resumed = script("scripts/train.py", [*args, "--resume", str(part), "--save",
                                          str(tmp_path / "end.npz")])
    assert resumed.returncode == 0, resumed.stderr
    before = [line for line in printed if int(line.split()[0][2:]) < done]
    assert "".join(before) + resumed.stdout == whole.stdout
    a, b = load_checkpoint(tmp_path / "whole.npz"), load_checkpoint(tmp_path / "end.npz")
    assert np.array_equal(a.weights_0_1, b.weights_0_1)
    assert np.array_equal(a.weights_1_2, b.weights_1_2)
    assert a.numpy_rng["state"]["pos"] == b.numpy_rng["state"]["pos"]


def weights_hash(path: Path) -> str:
    saved = load_checkpoint(path)
    return hashlib.sha256(saved.weights_0_1.tobytes() + saved.weights_1_2.tobytes()).hexdigest()


@pytest.mark.parametrize("impl", ["numpy", pytest.param("torch", marks=needs_torch)])
def test_same_seed_same_log_same_weight_hash(impl, tmp_path):
    results = [run(["scripts/train.py", "--impl", impl, *SHORT, "--device", "cpu",
                    "--save", str(tmp_path / f"{n}.npz")]) for n in range(2)]
    assert results[0].returncode == 0, results[0].stderr
    assert results[0].stdout == results[1].stdout
    assert weights_hash(tmp_path / "0.npz") == weights_hash(tmp_path / "1.npz")



@needs_torch
def test_evaluate_reads_each_implementations_checkpoint_with_each(tmp_path, script):
    for made_by in IMPLS:
        made = script("scripts/train.py", ["--impl", made_by, "--device", "cpu", *SHORT,
                                           "--mode", "exact", "--save",
                                           str(tmp_path / f"{made_by}.npz")])
        assert made.returncode == 0, made.stderr
        outputs = set()
        for impl in IMPLS:
            result = script("scripts/evaluate.py", [str(tmp_path / f"{made_by}.npz"), "--impl",
                                                    impl, "--device", "cpu"])
            assert result.returncode == 0, result.stderr
            assert f"made by {made_by} " in result.stdout.splitlines()[0]
            outputs.add(result.stdout.split("\n", 1)[1])  # after the header line
            rows = [line.split()[1:] for line in result.stdout.splitlines()[-10:]]
            assert sum(int(n) for row in rows for n in row) == 10000
        assert len(outputs) == 1, outputs
    bad = script("scripts/evaluate.py", [str(REPO / "README.md")])
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


# Fuzzing the IDX reader -----------------------------------------------------------------

HEADERS = st.tuples(
    st.sampled_from([b"\0\0", b"\0\1", b"\x1f\x8b", b"PK"]),
    st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07, 0xFF]),
    st.integers(0, 4),
)


@settings(max_examples=1000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(header=HEADERS, dims=st.lists(st.integers(0, 2**32 - 1), max_size=4),
       small_dims=st.lists(st.integers(0, 6), max_size=4), body=st.binary(max_size=300),
       use_small=st.booleans(), gz=st.booleans(), cut=st.integers(0, 40),
       damage=st.integers(0, 200))
def test_idx_reader_raises_only_its_error_and_stays_within_the_file(
        header, dims, small_dims, body, use_small, gz, cut, damage, tmp_path_factory):
    magic, code, ndim = header
    shape = (small_dims if use_small else dims)[:ndim]
    raw = magic + bytes([code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + body
    raw = raw[:len(raw) - cut] if cut < len(raw) else raw
    path = tmp_path_factory.mktemp("idx") / ("f.gz" if gz else "f")
    stored = bytearray(gzip.compress(raw) if gz else raw)
    if gz and 10 <= damage < len(stored):  # a damaged compressed stream, past gzip's header
        stored[damage] ^= 0xFF
    path.write_bytes(bytes(stored))
    tracemalloc.start()
    try:
        array = read_idx(path)
    except DataError as e:
        assert str(e).startswith(str(path))
        array = None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    # nothing proportional to what a header claims (up to 2**128 bytes): a few copies of the
    # data, plus the readers' fixed buffers (gzip reads 128 KiB at a time)
    assert peak <= 4 * len(raw) + 256 * 1024
    if array is not None:
        assert array.nbytes <= len(raw) and math.prod(array.shape) * array.itemsize == \
            array.nbytes


@needs_torch
def test_resume_refuses_a_checkpoint_of_the_other_mask_stream(tmp_path, script):
    path = tmp_path / "torch-masks.npz"
    made = script("scripts/train.py", ["--impl", "torch", "--device", "cpu", "--rng", "torch",
                                       *SHORT, "--iterations", "2", "--save", str(path)])
    assert made.returncode == 0, made.stderr
    result = script("scripts/train.py", ["--impl", "torch", "--device", "cpu", *SHORT,
                                         "--resume", str(path), "--quiet"])
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "scripts/train.py: error: the checkpoint was made with --rng " \
                            "torch, not numpy\n"
