"""A checkpoint is checked before it is trusted: every tampered field is refused in one line
naming the field, exit 2, in the checkpoints of the NumPy side and of the torch side (with
torch's generator state) alike: every implementation writes the same format. It is read
through zipfile, bounded by its own config before its weights are read, normalized to C order
and this machine's byte order, and a zip this reader cannot read is one line in the
project's words."""

from __future__ import annotations

import functools
import io
import itertools
import re
import struct
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ch9_shared.checkpoint import Checkpoint, CheckpointError, checked, load_checkpoint
from ch9_shared.config import PIXELS
from ch9_shared.data import Dataset
from ch9_shared.loop import Model, train
from numpy_impl.fast import FastNetwork
from parity_tests import conftest
from parity_tests.conftest import run

SHORT = [*conftest.SHORT, "--iterations", "2"]
IMPL = {"numpy": ["--impl", "numpy"], "torch": ["--impl", "torch", "--rng", "torch"],
        "idiomatic": ["--impl", "idiomatic"]}
"""The two kinds of checkpoint, without and with a torch.Generator's state, and the idiomatic
model's, whose masks always come from torch's generator."""


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Callable[[str], Path]:
    """The checkpoint of a short run of `side`, made once (torch's skipped without torch)."""
    folder = tmp_path_factory.mktemp("saved")

    @functools.cache
    def made_by(side: str) -> Path:
        if side != "numpy":
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


# Bounded by its own config before its weights are read ---------------------------------

def streamed_member(source: Path, target: Path, name: str, header: bytes, zeros: int) -> Path:
    """`source` with member `name` replaced by `header` and `zeros` zero bytes, deflated (a
    few kB on disk) and written a MiB at a time, so that the test never holds them."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w",
                                                         zipfile.ZIP_DEFLATED) as archive:
        for info in old.infolist():
            if info.filename != f"{name}.npy":
                archive.writestr(info.filename, old.read(info))
                continue
            with archive.open(info.filename, "w") as member:
                member.write(header)
                for start in range(0, zeros, 1 << 20):
                    member.write(bytes(min(1 << 20, zeros - start)))
    return target


@pytest.mark.parametrize(("name", "shape"), [("weights_0_1", (PIXELS, 8192)),
                                             ("weights_1_2", (100, 65536))])
def test_weights_of_another_shape_are_refused_before_their_data_is_read(
        saved, tmp_path, name, shape):
    """A whole, honest member (it unpacks to what its header says, 51 or 52 MB of float64
    zeros) whose shape is not its config's (hidden_size 100) costs no memory to refuse."""
    path = streamed_member(saved("numpy"), tmp_path / "wide.npz", name, npy_header(shape),
                           8 * shape[0] * shape[1])
    assert path.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match=re.escape(f"{name}: shape {shape}, where")):
            load_checkpoint(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000, f"{peak} bytes to refuse a member of {8 * shape[0] * shape[1]}"


# Normalized when read: a resume is to the bit whatever layout wrote the weights ----------

LAYOUTS = {"fortran order": np.asfortranarray, "big-endian": lambda a: a.astype(">f8")}


@pytest.mark.parametrize("side", ["numpy", "torch", "idiomatic"])
def test_weights_in_any_layout_resume_to_the_bit(saved, tmp_path, script, side):
    """A checkpoint after 2 of 4 iterations whose weights another writer stored in Fortran
    order or big-endian resumes to exactly the weights of the uninterrupted run; what it
    holds is read back in C order and this machine's byte order."""
    longer = [*IMPL[side], *SHORT, "--iterations", "4", "--device", "cpu"]
    whole = script("scripts/train.py", [*longer, "--save", str(tmp_path / "whole.npz")])
    assert whole.returncode == 0, whole.stderr
    expected = load_checkpoint(tmp_path / "whole.npz")
    for layout, relay in LAYOUTS.items():
        path = tampered(saved(side), tmp_path / "relaid.npz", lambda f, relay=relay: f.update(
            weights_0_1=relay(f["weights_0_1"]), weights_1_2=relay(f["weights_1_2"])))
        loaded = load_checkpoint(path)
        for weights in (loaded.weights_0_1, loaded.weights_1_2):
            assert weights.flags.c_contiguous and weights.dtype == np.float64, layout
            assert weights.dtype.byteorder in "=|", layout
        end = tmp_path / "end.npz"
        result = script("scripts/train.py", [*longer, "--resume", str(path), "--save", str(end)])
        assert result.returncode == 0, result.stderr
        got = load_checkpoint(end)
        assert got.weights_0_1.tobytes() == expected.weights_0_1.tobytes(), layout
        assert got.weights_1_2.tobytes() == expected.weights_1_2.tobytes(), layout


# Every combination of missing fields is one line -----------------------------------------

def fields_of(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {name: f[name] for name in f.files}


def resumes_or_refuses(checkpoint: Checkpoint, dataset: Dataset) -> None:
    """Go on from `checkpoint` as train.py does (check_resumes, then the model's start and
    no iteration more), with each generator its implementation may take: it starts, or
    it is refused with a CheckpointError; nothing else."""
    config = checkpoint.config.replace(iterations=checkpoint.iteration)
    models: list[Callable[[], Model]] = [lambda: FastNetwork(config)]
    if checkpoint.impl != "numpy":
        from torch_impl.hand_built import HandBuiltModel
        from torch_impl.idiomatic import Idiomatic
        models = ([lambda: Idiomatic(config, "cpu")] if checkpoint.impl == "idiomatic" else
                  [lambda: HandBuiltModel(config, "cpu", "numpy"),
                   lambda: HandBuiltModel(config, "cpu", "torch")])
    for model in models:
        try:
            checkpoint.check_resumes(config, checkpoint.impl, Path("x.npz"))
            train(model(), dataset, resume=checkpoint)
        except CheckpointError as e:
            assert "\n" not in str(e)


def sides() -> list[str]:
    """Every kind of checkpoint this system makes: the torch sides' where torch is."""
    return ["numpy", "torch", "idiomatic"] if conftest.HAS_TORCH else ["numpy"]


def test_every_combination_of_missing_fields_is_one_line_or_resumes(saved, dataset):
    """Each of the 2**10 (NumPy) or 2**12 (with torch's generator) subsets of a checkpoint's
    fields taken away: the validator refuses it naming a field it lacks, or what is left
    resumes: all of them, and the torch model's without its generator (a run of rng
    numpy's)."""
    for side in sides():
        fields = fields_of(saved(side))
        loaded = []
        for count in range(len(fields) + 1):
            for gone in itertools.combinations(sorted(fields), count):
                try:
                    checkpoint = checked(Path("x.npz"), {name: value for name, value
                                                         in fields.items() if name not in gone})
                except CheckpointError as e:
                    assert str(e).split(": ")[1] in gone and "\n" not in str(e), (gone, str(e))
                    continue
                loaded.append(gone)
                resumes_or_refuses(checkpoint, dataset)
        assert loaded == [()] + ([("torch_rng", "torch_rng_device")] if side == "torch"
                                 else []), side


def test_missing_fields_read_from_a_file_are_one_line(saved, tmp_path):
    """Through the reader (the fields it reads before the weights): every subset of one or
    two fields taken away, refused naming one of them, or `format` gone: not ours."""
    path = tmp_path / "less.npz"
    for side in sides():
        fields = fields_of(saved(side))
        for count in (1, 2):
            for gone in itertools.combinations(sorted(fields), count):
                np.savez(path, **{name: value for name, value in fields.items()
                                  if name not in gone})
                if side == "torch" and set(gone) == {"torch_rng", "torch_rng_device"}:
                    assert load_checkpoint(path).torch_rng is None  # a run of rng numpy's
                    continue
                with pytest.raises(CheckpointError) as caught:
                    load_checkpoint(path)
                said = str(caught.value).removeprefix(f"{path}: ")
                assert said.split(":")[0] in gone or said == "not a checkpoint of this project", \
                    (side, said)
                assert "\n" not in said


def test_the_scripts_refuse_missing_generator_fields_in_one_line(saved, tmp_path):
    """An idiomatic checkpoint without its generator's state and its device (or without
    the state alone), and a torch one without its device: evaluate.py and train.py
    --resume, exit 2, one line naming what is missing."""
    pytest.importorskip("torch", reason=conftest.NEEDS_TORCH)
    evaluate = ["scripts/evaluate.py", "--test-size", "20"]
    resume = [*SHORT, "--iterations", "3", "--resume"]
    for side, gone, field, scripts in (
            ("idiomatic", ("torch_rng", "torch_rng_device"), "torch_rng",
             (evaluate, ["scripts/train.py", *IMPL["idiomatic"], *resume])),
            ("idiomatic", ("torch_rng",), "torch_rng", (evaluate,)),
            ("torch", ("torch_rng_device",), "torch_rng_device", (evaluate,))):
        path = tmp_path / f"{side}-{len(gone)}.npz"
        np.savez(path, **{k: v for k, v in fields_of(saved(side)).items() if k not in gone})
        for args in scripts:
            result = run([*args, str(path)])
            assert result.returncode == 2, (gone, args[0], result.stderr)
            assert result.stderr.count("\n") == 1 and f"{path}: {field}: missing" \
                in result.stderr, result.stderr


# Any zip the reader cannot read is one line in the project's words ---------------------

def rewritten(source: Path, target: Path, method: int = zipfile.ZIP_STORED,
              extra: tuple[tuple[str, bytes], ...] = ()) -> bytes:
    """`source`'s members written again with `method`, with `extra` entries; its bytes."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", method) as new:
        for name, data in extra:
            new.writestr(name, data)
        for info in old.infolist():
            new.writestr(info.filename, old.read(info))
    return target.read_bytes()


def member(source: Path, name: str) -> bytes:
    with zipfile.ZipFile(source) as archive:
        return archive.read(name)


def patched(data: bytes, signature: bytes, offset: int, change) -> bytes:
    """Each zip header of `signature` with its 16-bit field at `offset` changed."""
    out, start = bytearray(data), 0
    while (start := out.find(signature, start)) >= 0:
        (value,) = struct.unpack_from("<H", out, start + offset)
        struct.pack_into("<H", out, start + offset, change(value))
        start += 4
    return bytes(out)


def flagged(data: bytes, local: int, central: int, change) -> bytes:
    """A field changed in every local header (PK 3 4) and every central one (PK 1 2)."""
    return patched(patched(data, b"PK\x03\x04", local, change), b"PK\x01\x02", central, change)


def cut_short(data: bytes) -> bytes:
    """200 bytes gone from the first member: the archive's directory, at its end, is whole."""
    return data[:200] + data[400:]


def unparsable_header() -> bytes:
    """An npy header whose dict never closes: NumPy's parser raises tokenize's TokenError."""
    text = b"{'descr': '<f8', 'fortran_order': False, 'shape': (784, 100), ".ljust(117)
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text) + 1) + text + b"\n"


ZIPS = {  # name: (the archive from the bytes np.savez wrote, what the one line says)
    "encrypted": (lambda d, t: flagged(rewritten(d, t), 6, 8, lambda v: v | 1),
                  "format: encrypted"),
    "deflate64": (lambda d, t: flagged(rewritten(d, t, zipfile.ZIP_DEFLATED), 8, 10,
                                       lambda v: 9), "compressed with deflate64"),
    "bzip2": (lambda d, t: rewritten(d, t, zipfile.ZIP_BZIP2), "compressed with bzip2"),
    "bytes before": (lambda d, t: b"#!/bin/sh\n" + d.read_bytes(),
                     "10 bytes before its zip archive"),
    "cut short": (lambda d, t: cut_short(d.read_bytes()), "damaged or cut short"),
    "a folder": (lambda d, t: rewritten(d, t, extra=(("weights/", b""),)),
                 "weights/: a folder in the archive"),
    "an unparsable header": (lambda d, t: replaced_member(
        d, t, "weights_0_1", unparsable_header()).read_bytes(), "weights_0_1: not an npy array"),
    "a name twice": (lambda d, t: rewritten(d, t, extra=(
        ("iteration.npy", member(d, "iteration.npy")),)), "iteration: in the archive twice"),
}


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("kind", ZIPS)
def test_a_zip_the_reader_cannot_read_is_one_line_in_its_words(saved, tmp_path, kind):
    make, said = ZIPS[kind]
    path = tmp_path / "other.npz"
    path.write_bytes(make(saved("numpy"), tmp_path / "rewritten.npz"))
    for args in (["scripts/evaluate.py", str(path), "--test-size", "20"],
                 ["scripts/train.py", *IMPL["numpy"], *SHORT, "--iterations", "3",
                  "--resume", str(path)]):
        result = run(args)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and f"{path}: " in result.stderr
        assert said in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "pickle" not in result.stderr
