"""Checkpoints: everything a run needs to go on exactly where it stopped.

A checkpoint holds both weight matrices (in the chapter's layout, (784, H) and (H, classes)),
the number of iterations done, the state of the run's `RandomState` (and of the torch
generator, for `rng="torch"`, with the kind of device it ran on), the run's config and the
implementation that wrote it. Every implementation writes the same format, an `.npz` of
plain arrays (read back with `allow_pickle=False`), so any of them evaluates any checkpoint.
It is written beside its path and renamed, so a checkpoint is whole or absent, and it is read
through one validator, `checked`, before anything in it is trusted.
"""

from __future__ import annotations

import dataclasses
import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ch9_shared.config import CLASSES, MAX_HIDDEN, PIXELS, Config, ConfigError
from ch9_shared.files import write_atomically
from ch9_shared.npz import members

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
    torch_rng_device: str  # where the torch.Generator ran: "cpu", "cuda" or "mps" ("cpu": none)

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


MAX_CONFIG_BYTES = 4096
"""A config is a flat dict of a dozen settings: more than this is not one of ours."""
MT_KEY = 624
TORCH_RNG_BYTES = 1 << 16
"""A CPU torch.Generator's state is 5056 bytes, a CUDA one 16: this bound is generous."""
IMPLS = ("numpy", "torch", "idiomatic")
SCALARS = ("format", "impl", "config", "iteration", "rng_pos", "rng_has_gauss", "rng_gauss",
           "torch_rng_device")


def config_from_json(text: str) -> Config:
    """The config, parsed only when small and flat: a nested or huge JSON is refused unread."""
    if len(text) > MAX_CONFIG_BYTES:
        raise CheckpointError(f"config: {len(text)} characters, more than {MAX_CONFIG_BYTES}")
    if text.count("[") + text.count("{") > 1:
        raise CheckpointError("config: nested JSON, a config is one flat object")
    try:
        fields = json.loads(text)
    except ValueError as e:
        raise CheckpointError(f"config: not JSON ({e})") from None
    if not isinstance(fields, dict):
        raise CheckpointError("config: not a JSON object")
    try:
        return Config(**fields)
    except (TypeError, ConfigError) as e:
        raise CheckpointError(f"config: {e}") from None


def max_bytes(hidden: int = MAX_HIDDEN) -> int:
    return PIXELS * hidden * 8


def _field_bound(name: str) -> int:
    """The most bytes a field may hold; refused from its header, before its data is read."""
    if name in ("weights_0_1", "weights_1_2"):
        return max_bytes()
    if name == "rng_key":
        return MT_KEY * 8
    if name == "torch_rng":
        return TORCH_RNG_BYTES
    return MAX_CONFIG_BYTES * 4  # a 0-d string or number


def check_headers(path: Path) -> None:
    """Read each member's npy header (dtype, shape) and refuse a field too big or of an object
    dtype, and a member whose stored size exceeds what its header allows (a compression
    bomb), before any data is read."""
    with zipfile.ZipFile(path) as archive:
        for member in members(archive):
            name = member.name
            if name not in (*SCALARS, "weights_0_1", "weights_1_2", "rng_key", "torch_rng"):
                raise CheckpointError(f"{name}: not a field of a checkpoint")
            if member.dtype.hasobject:
                raise CheckpointError(f"{name}: an object array, not a checkpoint field")
            if member.data_bytes > _field_bound(name):
                raise CheckpointError(f"{name}: its header claims {member.data_bytes} bytes, "
                                      f"more than the {_field_bound(name)} a checkpoint's "
                                      f"{name} may hold")
            if member.unpacks_beyond_its_header:
                raise CheckpointError(f"{name}: unpacks to {member.info.file_size} bytes, its "
                                      f"header allows {member.header_bytes + member.data_bytes}")


def _real(name: str, value: object, ndim: int) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype not in (np.float32, np.float64) \
            or value.ndim != ndim:
        what = (f"{value.dtype} of {value.ndim} dimensions" if isinstance(value, np.ndarray)
                else type(value).__name__)
        raise CheckpointError(f"{name}: {what}, not a {ndim}-D float32 or float64 array")
    if not np.isfinite(value).all():
        raise CheckpointError(f"{name}: holds NaN or infinity; this checkpoint cannot be used")
    return value


def _integer(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise CheckpointError(f"{name}: {type(value).__name__} {value!r:.40}, not an integer")
    if not low <= int(value) <= high:
        raise CheckpointError(f"{name}: {value} is outside {low}..{high}")
    return int(value)


def _text(name: str, value: object) -> str:
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind == "U":
        value = value.item()
    if not isinstance(value, str):
        raise CheckpointError(f"{name}: {type(value).__name__}, not a string")
    return value


def checked(path: Path, fields: dict[str, object]) -> Checkpoint:
    """The one validator: each field of a checkpoint read from `path` (NumPy arrays, plain
    values or None where absent), checked for type, dtype, shape, range and finiteness before
    any of it is trusted. Raises CheckpointError naming the field."""
    try:
        missing = [n for n in (*SCALARS[:-1], "weights_0_1", "weights_1_2", "rng_key")
                   if fields.get(n) is None]
        if missing:
            raise CheckpointError(f"{missing[0]}: missing")
        if _text("format", fields["format"]) != FORMAT:
            raise CheckpointError(f"format: not {FORMAT!r}")
        impl = _text("impl", fields["impl"])
        if impl not in IMPLS:
            raise CheckpointError(f"impl: {impl!r:.40}, not one of {', '.join(IMPLS)}")
        config = config_from_json(_text("config", fields["config"]))
        weights_0_1 = _real("weights_0_1", fields["weights_0_1"], 2)
        weights_1_2 = _real("weights_1_2", fields["weights_1_2"], 2)
        iteration = _integer("iteration", fields["iteration"], 0, config.iterations)
        key = fields["rng_key"]
        if not isinstance(key, np.ndarray) or key.shape != (MT_KEY,) or key.dtype.kind not in "iu" \
                or key.min() < 0 or key.max() > 2**32 - 1:
            what = (f"{key.dtype} of shape {key.shape}" if isinstance(key, np.ndarray)
                    else type(key).__name__)
            raise CheckpointError(f"rng_key: {what}, not {MT_KEY} unsigned 32-bit integers")
        pos = _integer("rng_pos", fields["rng_pos"], 0, MT_KEY)
        has_gauss = _integer("rng_has_gauss", fields["rng_has_gauss"], 0, 1)
        gauss = fields["rng_gauss"]
        if isinstance(gauss, np.ndarray) and gauss.ndim == 0:
            gauss = gauss.item()
        if not isinstance(gauss, float) or not math.isfinite(gauss):
            raise CheckpointError(f"rng_gauss: {gauss!r:.40}, not a finite float")
        torch_rng = fields.get("torch_rng")
        if torch_rng is not None and (
                not isinstance(torch_rng, np.ndarray) or torch_rng.dtype != np.uint8
                or torch_rng.ndim != 1 or not 0 < torch_rng.size <= TORCH_RNG_BYTES):
            what = (f"{torch_rng.dtype} of shape {torch_rng.shape}"
                    if isinstance(torch_rng, np.ndarray) else type(torch_rng).__name__)
            raise CheckpointError(f"torch_rng: {what}, not a 1-D uint8 generator state")
        device = fields.get("torch_rng_device")
        if (torch_rng is None) != (device is None):
            raise CheckpointError("torch_rng_device: missing" if device is None else
                                  "torch_rng_device: given without a torch_rng")
        device = "cpu" if device is None else _text("torch_rng_device", device)
        if device not in GENERATOR_DEVICES:
            raise CheckpointError(f"torch_rng_device: {device!r:.40}, not "
                                  f"{', '.join(GENERATOR_DEVICES[:-1])} or "
                                  f"{GENERATOR_DEVICES[-1]}")
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    checkpoint = Checkpoint(weights_0_1, weights_1_2, iteration,
                            numpy_rng_state(key, pos, has_gauss, gauss), torch_rng, config, impl,
                            device)
    check_shapes(checkpoint, path)
    return checkpoint


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Write `checkpoint` to `path` as an .npz of plain arrays, whole or not at all."""
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


def numpy_rng_state(key: np.ndarray, pos: int, has_gauss: int, gauss: float) -> dict:
    return {"bit_generator": "MT19937", "state": {"key": key.astype(np.uint32), "pos": pos},
            "has_gauss": has_gauss, "gauss": gauss}


def load_checkpoint(path: Path | str) -> Checkpoint:
    """The checkpoint at `path`, checked field by field (`checked`); CheckpointError naming
    the path and the field if it is not one of ours or not whole."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a checkpoint of this project (not an .npz file)")
    try:
        check_headers(path)
        with np.load(path, allow_pickle=False) as f:
            if "format" not in f.files or str(f["format"]) != FORMAT:
                raise CheckpointError(f"{path}: not a checkpoint of this project")
            fields = {name: f[name] for name in f.files}
    except CheckpointError as e:
        raise CheckpointError(e.args[0] if str(e).startswith(str(path)) else f"{path}: {e}") \
            from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({e})") from None
    return checked(path, fields)


def check_shapes(checkpoint: Checkpoint, path: Path) -> None:
    hidden = checkpoint.config.hidden_size
    for name, shape in (("weights_0_1", (PIXELS, hidden)), ("weights_1_2", (hidden, CLASSES))):
        if getattr(checkpoint, name).shape != shape:
            raise CheckpointError(f"{path}: {name}: shape {getattr(checkpoint, name).shape}, "
                                  f"where its config says {shape}")
