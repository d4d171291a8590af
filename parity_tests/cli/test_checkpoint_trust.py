"""A checkpoint is checked before it is trusted: every tampered field is refused in one line
naming the field, exit 2, in the checkpoints of the NumPy side and of the torch side (with
torch's generator state) alike: every implementation writes the same format."""

from __future__ import annotations

import functools
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ch9_shared.checkpoint import CheckpointError, load_checkpoint
from parity_tests import conftest
from parity_tests.conftest import run

SHORT = [*conftest.SHORT, "--iterations", "2"]
IMPL = {"numpy": ["--impl", "numpy"], "torch": ["--impl", "torch", "--rng", "torch"]}
"""The two kinds of checkpoint: without and with a torch.Generator's state."""


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Callable[[str], Path]:
    """The checkpoint of a short run of `side`, made once (torch's skipped without torch)."""
    folder = tmp_path_factory.mktemp("saved")

    @functools.cache
    def made_by(side: str) -> Path:
        if side == "torch":
            pytest.importorskip("torch", reason=conftest.NEEDS_TORCH)
        path = folder / f"{side}.npz"
        result = run(["scripts/train.py", *IMPL[side], *SHORT, "--save", str(path)])
        assert result.returncode == 0, result.stderr
        return path
    return made_by


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


CASES = {  # name: (field named in the refusal, change to the raw fields)
    "nan weights": ("weights_0_1", lambda f: f["weights_0_1"].__setitem__((0, 0), np.nan)),
    "inf weights": ("weights_1_2", lambda f: f["weights_1_2"].__setitem__((1, 1), -np.inf)),
    "complex weights": ("weights_0_1",
                        lambda f: f.update(weights_0_1=f["weights_0_1"] + 0j)),
    "string weights": ("weights_1_2",
                       lambda f: f.update(weights_1_2=f["weights_1_2"].astype(str))),
    "2-D key": ("rng_key", lambda f: f.update(rng_key=f["rng_key"].reshape(24, 26))),
    "short key": ("rng_key", lambda f: f.update(rng_key=f["rng_key"][:600])),
    "pos 625": ("rng_pos", lambda f: f.update(rng_pos=625)),
    "pos 1000000": ("rng_pos", lambda f: f.update(rng_pos=1000000)),
    "pos max": ("rng_pos", lambda f: f.update(rng_pos=2147483647)),
    "pos min": ("rng_pos", lambda f: f.update(rng_pos=-2147483647)),
    "torch rng float": ("torch_rng", lambda f: f.update(torch_rng=np.zeros(5056))),
    "torch rng text": ("torch_rng", lambda f: f.update(torch_rng="state")),
    "torch rng without its device": ("torch_rng_device", lambda f: (
        f.update(torch_rng=np.zeros(16, np.uint8)), f.pop("torch_rng_device", None))),
    "unknown generator device": ("torch_rng_device",
                                 lambda f: f.update(torch_rng_device="tpu")),
    "nested config": ("config", lambda f: f.update(config=nested(100000))),
    "huge config": ("config", lambda f: f.update(config=" " * 10**6 + "{}")),
    "negative iteration": ("iteration", lambda f: f.update(iteration=-1)),
    "iteration past the run": ("iteration", lambda f: f.update(iteration=3)),
    "unknown impl": ("impl", lambda f: f.update(impl="tensorflow")),
    "weights of another hidden size": ("weights_1_2",
                                       lambda f: f.update(weights_1_2=f["weights_1_2"][:4])),
}


def tampered(source: Path, target: Path, change) -> Path:
    with np.load(source, allow_pickle=False) as f:
        fields = {name: f[name] for name in f.files}
    change(fields)
    np.savez(target, **{k: np.asarray(v) for k, v in fields.items()})
    return target


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("side", ["numpy", "torch"])
def test_each_tampered_field_is_refused_naming_it(saved, tmp_path, side, case):
    field, change = CASES[case]
    with pytest.raises(CheckpointError, match=f": {field}: ") as caught:
        load_checkpoint(tampered(saved(side), tmp_path / "x.npz", change))
    assert "\n" not in str(caught.value)


def test_the_untampered_files_load(saved):
    numpy_side, torch_side = load_checkpoint(saved("numpy")), load_checkpoint(saved("torch"))
    assert numpy_side.iteration == torch_side.iteration == 2
    assert numpy_side.torch_rng is None and torch_side.torch_rng.dtype == np.uint8
    assert torch_side.torch_rng_device == "cpu"


def npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def replaced_member(source: Path, target: Path, name: str, payload: bytes) -> Path:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w",
                                                         zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            new.writestr(info.filename, payload if info.filename == f"{name}.npy"
                         else old.read(info))
    return target


def test_a_header_claiming_8_tib_is_refused_unread(saved, tmp_path):
    path = replaced_member(saved("numpy"), tmp_path / "big.npz", "weights_0_1",
                           npy_header((2**40,)))
    with pytest.raises(CheckpointError, match="weights_0_1: its header claims 8796093022208"):
        load_checkpoint(path)


def test_a_compression_bomb_is_refused_before_it_unpacks(saved, tmp_path):
    path = replaced_member(saved("numpy"), tmp_path / "bomb.npz", "weights_1_2",
                           npy_header((8, 10)) + bytes(50_000_000))
    assert path.stat().st_size < 1_000_000
    with pytest.raises(CheckpointError, match="weights_1_2: unpacks to 50000"):
        load_checkpoint(path)


@pytest.mark.parametrize("side", ["numpy", "torch"])
def test_scripts_refuse_in_one_line_exit_2(saved, tmp_path, side):
    """evaluate.py refuses NaN weights; train.py refuses an RNG position past the key."""
    nan = tampered(saved(side), tmp_path / "nan.npz", CASES["nan weights"][1])
    pos = tampered(saved(side), tmp_path / "pos.npz", CASES["pos 625"][1])
    for args, field in ((["scripts/evaluate.py", str(nan), "--test-size", "20"], "weights_0_1"),
                        (["scripts/train.py", *IMPL[side], *SHORT, "--iterations", "3",
                          "--resume", str(pos)], "rng_pos")):
        result = run(args)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and f": {field}: " in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("side", ["numpy", "torch"])
def test_a_finished_checkpoint_resumed_with_save_writes_the_copy(saved, tmp_path, side):
    copy = tmp_path / "copy.npz"
    result = run(["scripts/train.py", *IMPL[side], *SHORT, "--resume", str(saved(side)),
                  "--save", str(copy)])
    assert result.returncode == 0, result.stderr
    a, b = load_checkpoint(saved(side)), load_checkpoint(copy)
    assert a.iteration == b.iteration == 2
    assert np.array_equal(a.weights_0_1, b.weights_0_1)
