"""Checkpoints: everything a run needs to go on exactly where it stopped.

A checkpoint holds both weight matrices (in the NumPy layout, (784, H) and (H, classes)),
the number of iterations done, the state of the run's `RandomState` (and of the torch
generator, for `rng="torch"`, with the kind of device it ran on), the run's config and the
implementation that wrote it.
The NumPy side writes it as `.npz` (read back with `allow_pickle=False`); the torch side
as a `torch.save` dict of tensors and plain values (read back with `weights_only=True`).
Both are written beside their path and renamed, so a checkpoint is whole or absent.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ch9_shared.config import CLASSES, PIXELS, Config, ConfigError
from ch9_shared.files import write_atomically

FORMAT = "grokking-ch9 checkpoint 1"
GENERATOR_DEVICES = ("cpu", "cuda", "mps")


class CheckpointError(ValueError):
    """A file that is not a checkpoint, or one made for another run."""


@dataclass
class Checkpoint:
    weights_0_1: np.ndarray
    weights_1_2: np.ndarray
    iteration: int  # iterations done: the next one to run
    numpy_rng: dict[str, object]  # RandomState.get_state(legacy=False)
    torch_rng: np.ndarray | None  # uint8 state of the torch.Generator, or None
    config: Config
    impl: str
    torch_rng_device: str = "cpu"  # where the torch.Generator ran: "cpu", "cuda" or "mps"

    def check_resumes(self, config: Config, impl: str, path: Path) -> None:
        """Raise CheckpointError unless a run of `impl` with `config` can go on from here."""
        if self.impl != impl:
            raise CheckpointError(f"{path} was made by `impl` {self.impl}, not {impl}: "
                                  f"resume it with `impl` {self.impl}")
        for field in dataclasses.fields(Config):
            mine, theirs = getattr(self.config, field.name), getattr(config, field.name)
            if field.name != "iterations" and mine != theirs:
                raise CheckpointError(f"{path} was made with {field.name}={mine!r}, this run "
                                      f"has {theirs!r}: pass the original run's flags")
        if self.iteration > config.iterations:
            raise CheckpointError(f"{path} has {self.iteration} iterations done, more than "
                                  f"`iterations` {config.iterations}")


def config_json(config: Config) -> str:
    return json.dumps(dataclasses.asdict(config))


def config_from_json(text: str) -> Config:
    return Config(**json.loads(text))


def save_npz(path: Path, checkpoint: Checkpoint) -> None:
    rng = checkpoint.numpy_rng
    arrays = {
        "format": np.array(FORMAT), "impl": np.array(checkpoint.impl),
        "config": np.array(config_json(checkpoint.config)),
        "weights_0_1": checkpoint.weights_0_1, "weights_1_2": checkpoint.weights_1_2,
        "iteration": np.array(checkpoint.iteration),
        "rng_key": rng["state"]["key"], "rng_pos": np.array(rng["state"]["pos"]),
        "rng_has_gauss": np.array(rng["has_gauss"]), "rng_gauss": np.array(rng["gauss"]),
    }
    if checkpoint.torch_rng is not None:
        arrays["torch_rng"] = checkpoint.torch_rng
        arrays["torch_rng_device"] = np.array(checkpoint.torch_rng_device)
    write_atomically(path, lambda f: np.savez(f, **arrays))


def generator_device(name: object, path: Path) -> str:
    """The checkpoint's torch.Generator device, checked; "cpu" where none was saved (a
    checkpoint older than the field)."""
    if name is None:
        return "cpu"
    if str(name) not in GENERATOR_DEVICES:
        raise CheckpointError(f"{path}: its torch generator ran on {str(name)!r}, not "
                              f"{', '.join(GENERATOR_DEVICES[:-1])} or {GENERATOR_DEVICES[-1]}")
    return str(name)


def numpy_rng_state(key: np.ndarray, pos: int, has_gauss: int, gauss: float) -> dict:
    return {"bit_generator": "MT19937", "state": {"key": key.astype(np.uint32), "pos": pos},
            "has_gauss": has_gauss, "gauss": gauss}


def load_npz(path: Path | str) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a checkpoint (not an .npz file)")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "format" not in f.files or str(f["format"]) != FORMAT:
                raise CheckpointError(f"{path}: not a NumPy checkpoint of this project (a torch "
                                      "checkpoint resumes with `impl` torch or idiomatic)")
            return Checkpoint(
                f["weights_0_1"], f["weights_1_2"], int(f["iteration"]),
                numpy_rng_state(f["rng_key"], int(f["rng_pos"]), int(f["rng_has_gauss"]),
                                float(f["rng_gauss"])),
                f["torch_rng"] if "torch_rng" in f.files else None,
                config_from_json(str(f["config"])), str(f["impl"]),
                generator_device(f["torch_rng_device"] if "torch_rng_device" in f.files
                                 else None, path))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, ConfigError, TypeError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{path}: not a readable NumPy checkpoint ({e}); a torch "
                              "checkpoint resumes with `impl` torch or idiomatic") from None


def check_shapes(checkpoint: Checkpoint, path: Path) -> None:
    hidden = checkpoint.config.hidden_size
    for name, shape in (("weights_0_1", (PIXELS, hidden)), ("weights_1_2", (hidden, CLASSES))):
        if getattr(checkpoint, name).shape != shape:
            raise CheckpointError(f"{path}: {name} has shape {getattr(checkpoint, name).shape}, "
                                  f"its config says {shape}")
