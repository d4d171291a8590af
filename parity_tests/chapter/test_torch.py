"""The torch.nn side against the NumPy side and the book: the same logs, the same weights."""

from __future__ import annotations

import pytest

from parity_tests.conftest import NEEDS_TORCH

torch = pytest.importorskip("torch", reason=NEEDS_TORCH)

from ch9_shared.config import PRESETS
from ch9_shared.loop import train
from parity_tests.conftest import FLOAT64_DEVICES, REFERENCE_LOG, run
from torch_impl.hand_built import HandBuiltModel
from torch_impl.parity import all_close, run_rows


def torch_train(config, data, log=None, *, device="cpu", rng="numpy"):
    """The hand-built network's run: its torch.nn network."""
    model = HandBuiltModel(config, device, rng)
    return train(model, data, log, device=model.device.type).network


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


@pytest.mark.parametrize("device", FLOAT64_DEVICES)
def test_train_py_impl_torch_prints_the_books_log_exactly(device, script):
    """The full run, float64, masks from NumPy: the book's log on the CPU and on a GPU."""
    result = script("scripts/train.py", ["--impl", "torch", "--device", device])
    assert result.returncode == 0, result.stderr
    assert result.stdout == REFERENCE_LOG.read_text(encoding="utf-8")


@pytest.mark.parametrize(("preset", "mode", "seed"), [
    *[(preset, "exact", seed) for preset in ("tanh", "relu") for seed in (1, 2, 3)],
    ("tanh", "book", 2), ("relu", "book", 1),
])
def test_whole_run_numpy_and_torch_agree(preset, mode, seed, dataset):
    config = PRESETS[preset].replace(mode=mode, seed=seed)
    rows, same_log = run_rows(config, dataset)
    assert same_log
    assert all_close(rows), "\n".join(map(str, rows))


def test_entry_points_agree_and_masks_from_numpy_are_the_default(script):
    """scripts/train.py --impl torch in a process of its own (the entry point is the subject),
    the two other runs in this one."""
    args = ["--preset", "relu", "--iterations", "3", "--log-every", "2", "--test-size", "500"]
    module = run(["scripts/train.py", "--impl", "torch", "--device", "cpu", *args])
    torch_run = script("scripts/train.py", ["--impl", "torch", "--device", "cpu", "--rng",
                                            "numpy", *args])
    numpy_run = script("scripts/train.py", args)
    assert module.returncode == torch_run.returncode == numpy_run.returncode == 0, module.stderr
    assert module.stdout == torch_run.stdout == numpy_run.stdout
    assert "torch on cpu" in module.stderr


def test_float32_with_torch_masks_lands_near_the_float64_run(dataset):
    """A different random stream, so the final accuracy is compared, not the log: the float64
    run's is the book's (0.8701, checked above and in test_whole_run...)."""
    final = []
    model = torch_train(PRESETS["tanh"].replace(dtype="float32"), dataset,
                        lambda r: final.append(r.test_correct / r.test_size), device="cpu",
                        rng="torch")
    assert model.weights_0_1.weight.dtype == torch.float32
    book_final = float(REFERENCE_LOG.read_text(encoding="utf-8").split()[-2].split(":")[1])
    assert abs(final[-1] - book_final) <= 0.015


def test_torch_rng_is_deterministic_and_differs_from_numpy_masks(dataset):
    config = PRESETS["relu"].replace(iterations=2)
    a, b = (torch_train(config, dataset, device="cpu", rng="torch") for _ in range(2))
    c = torch_train(config, dataset, device="cpu", rng="numpy")
    assert torch.equal(a.weights_0_1.weight, b.weights_0_1.weight)
    assert not torch.equal(a.weights_0_1.weight, c.weights_0_1.weight)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_device_cuda_without_a_gpu_is_one_clear_line(script):
    result = script("scripts/train.py", ["--impl", "torch", "--device", "cuda"])
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "no CUDA GPU" in result.stderr


@pytest.mark.parametrize("device", FLOAT64_DEVICES)
@pytest.mark.parametrize("mode", ["book", "exact"])
def test_short_run_on_the_device_agrees_with_numpy(mode, device, dataset):
    config = PRESETS["tanh"].replace(mode=mode, iterations=5, log_every=2)
    rows, same_log = run_rows(config, dataset, device)
    assert same_log
    assert all_close(rows), "\n".join(map(str, rows))


@pytest.mark.cuda
@needs_cuda
def test_cuda_auto_device_and_torch_masks_on_the_gpu(dataset):
    model = torch_train(PRESETS["relu"].replace(iterations=2, dtype="float32"), dataset,
                        device="auto", rng="torch")
    assert model.weights_0_1.weight.is_cuda
    assert torch.isfinite(model.weights_0_1.weight).all()
