"""Checkpoints: everything a run needs to go on exactly where it stopped.

A checkpoint holds both weight matrices (in the chapter's layout, (784, H) and (H, classes)),
the number of iterations done, the state of the run's `RandomState` (and of the torch
generator, for `rng="torch"`, with the kind of device it ran on), the run's config and the
implementation that wrote it. Every implementation writes the same format, an `.npz` of
plain arrays (read back with `allow_pickle=False`), so any of them evaluates any checkpoint.
It is written beside its path and renamed, so a checkpoint is whole or absent. It is read
through zipfile (ch9_shared/npz.py), never unpickled: its small fields first, then each weight
matrix only once its header has the shape and dtype its config allows, in C order and this
machine's byte order whoever wrote it; and through one validator, `checked`, before anything
in it is trusted.
"""

from __future__ import annotations

import dataclasses
import json
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ch9_shared.config import CLASSES, MAX_HIDDEN, PIXELS, Config, ConfigError
from ch9_shared.files import write_atomically
from ch9_shared.npz import Member, NpzError, members, read_array

FORMAT = "grokking-ch9 checkpoint 1"
TORCH_RNG_DEVICES = ("cpu", "cuda", "mps")


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

    def torch_rng_on(self, device: str) -> np.ndarray | None:
        """The torch generator's state, for a run on `device` ("cpu", "cuda", "mps"). A
        generator's state belongs to its kind of device (the CPU's Mersenne Twister: 5056
        bytes; CUDA's Philox: 16; MPS's its own) and turns into no other's, so it goes on
        on the kind that made it."""
        if self.torch_rng is not None and self.torch_rng_device != device:
            made_on = self.torch_rng_device
            raise CheckpointError(f"the checkpoint's dropout masks come from a torch.Generator "
                                  f"on {made_on}, which cannot go on on {device}: resume it "
                                  f"with `device` {made_on}")
        return self.torch_rng


def config_json(config: Config) -> str:
    return json.dumps(dataclasses.asdict(config))


MAX_CONFIG_BYTES = 4096
"""A config is a flat dict of a dozen settings: more than this is not one of ours."""
MT_KEY = 624
TORCH_RNG_BYTES = 1 << 16
"""A CPU torch.Generator's state is 5056 bytes, a CUDA one 16: this bound is generous."""
IMPLS = ("numpy", "torch", "idiomatic")
"""The implementations, the one list: a checkpoint's `impl`, and the command line's choices."""
SCALARS = ("format", "impl", "config", "iteration", "rng_pos", "rng_has_gauss", "rng_gauss",
           "torch_rng_device")
WEIGHTS = ("weights_0_1", "weights_1_2")
FIELDS = (*SCALARS, *WEIGHTS, "rng_key", "torch_rng")


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
    if name in WEIGHTS:
        return max_bytes()
    if name == "rng_key":
        return MT_KEY * 8
    if name == "torch_rng":
        return TORCH_RNG_BYTES
    return MAX_CONFIG_BYTES * 4  # a 0-d string or number


def bounded_headers(archive: zipfile.ZipFile) -> dict[str, Member]:
    """Each member's npy header (dtype, shape), a field too big for any checkpoint, of an
    object dtype, or stored bigger than its header allows (a compression bomb) refused before
    any data is read."""
    headers = {}
    for member in members(archive):
        name = member.name
        if name not in FIELDS:
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
        headers[name] = member
    return headers


def weight_shapes(config: Config) -> dict[str, tuple[int, int]]:
    """The shape of each weight matrix of a run of `config`, in the chapter's layout."""
    return {"weights_0_1": (PIXELS, config.hidden_size),
            "weights_1_2": (config.hidden_size, CLASSES)}


def _real_dtype(name: str, dtype: np.dtype, ndim: int, want: int) -> None:
    """Refuse all but float32 and float64 (of either byte order) of `want` dimensions."""
    if dtype.kind != "f" or dtype.itemsize not in (4, 8) or ndim != want:
        raise CheckpointError(f"{name}: {dtype} of {ndim} dimensions, not a {want}-D float32 "
                              f"or float64 array")


def _weight_header(member: Member, shape: tuple[int, int]) -> None:
    """Refuse a weight matrix, from its header alone, unless it is what the checkpoint's
    config makes: float32 or float64 of `shape`, so that its data is read only then."""
    _real_dtype(member.name, member.dtype, len(member.shape), 2)
    if member.shape != shape:
        raise CheckpointError(f"{member.name}: shape {member.shape}, where its config says "
                              f"{shape}")


def _real(name: str, value: object, ndim: int) -> np.ndarray:
    """`value` checked, in C order and this machine's byte order: the layout a run's own
    weights have, so a resume computes what the uninterrupted run computed, to the bit."""
    if not isinstance(value, np.ndarray):
        raise CheckpointError(f"{name}: {type(value).__name__}, not a {ndim}-D float32 or "
                              f"float64 array")
    _real_dtype(name, value.dtype, value.ndim, ndim)
    value = np.ascontiguousarray(value, value.dtype.newbyteorder("="))
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


def heading(fields: dict[str, object]) -> tuple[str, Config]:
    """The implementation and the config of a checkpoint's fields, checked: what every
    other field is checked against, so they are read first. CheckpointError naming the
    field."""
    for name in SCALARS[:3]:
        if fields.get(name) is None:
            raise CheckpointError(f"{name}: missing")
    if _text("format", fields["format"]) != FORMAT:
        raise CheckpointError(f"format: not {FORMAT!r}")
    impl = _text("impl", fields["impl"])
    if impl not in IMPLS:
        raise CheckpointError(f"impl: {impl!r:.40}, not one of {', '.join(IMPLS)}")
    return impl, config_from_json(_text("config", fields["config"]))


def checked(path: Path, fields: dict[str, object]) -> Checkpoint:
    """The one validator: each field of a checkpoint read from `path` (NumPy arrays, plain
    values or None where absent), checked for type, dtype, shape, range and finiteness before
    any of it is trusted, and the fields its implementation needs there: an idiomatic run's
    masks come from torch's generator, so its checkpoint holds that generator's state.
    Raises CheckpointError naming the field."""
    try:
        impl, config = heading(fields)
        missing = [n for n in (*SCALARS[3:-1], *WEIGHTS, "rng_key") if fields.get(n) is None]
        if missing:
            raise CheckpointError(f"{missing[0]}: missing")
        if impl == "idiomatic" and fields.get("torch_rng") is None:
            raise CheckpointError("torch_rng: missing, and an idiomatic run's dropout masks "
                                  "go on from its torch.Generator's state")
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
        if device is not None:
            device = _text("torch_rng_device", device)
            if device not in TORCH_RNG_DEVICES:
                raise CheckpointError(f"torch_rng_device: {device!r:.40}, not "
                                      f"{', '.join(TORCH_RNG_DEVICES[:-1])} or "
                                      f"{TORCH_RNG_DEVICES[-1]}")
        if (torch_rng is None) != (device is None):
            gone, there = (("torch_rng_device", "torch_rng") if device is None
                           else ("torch_rng", "torch_rng_device"))
            raise CheckpointError(f"{gone}: missing, where its {there} is there (the two go "
                                  f"together)")
        device = "cpu" if device is None else device
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
    """The checkpoint at `path`, read through zipfile: every header first, then the small
    fields, then each weight matrix once its header is what the config makes
    (`_weight_header`); checked field by field (`checked`). CheckpointError naming the path
    and the field if it is not one of ours, not whole, or not an archive this reader reads."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a checkpoint of this project (not an .npz file)")
    try:
        with zipfile.ZipFile(path) as archive:
            headers = bounded_headers(archive)
            fields = {name: read_array(archive, header) for name, header in headers.items()
                      if name not in WEIGHTS}
            format_ = fields.get("format")
            if not isinstance(format_, np.ndarray) or format_.dtype.kind != "U" \
                    or str(format_) != FORMAT:
                raise CheckpointError(f"{path}: not a checkpoint of this project")
            for name, shape in weight_shapes(heading(fields)[1]).items():
                if name in headers:
                    _weight_header(headers[name], shape)
                    fields[name] = read_array(archive, headers[name])
    except CheckpointError as e:
        raise CheckpointError(e.args[0] if str(e).startswith(str(path)) else f"{path}: {e}") \
            from None
    except NpzError as e:
        raise CheckpointError(f"{path}: {e}") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise CheckpointError(f"{path}: damaged or cut short, not a readable checkpoint ({e})") \
            from None
    return checked(path, fields)


def check_shapes(checkpoint: Checkpoint, path: Path) -> None:
    for name, shape in weight_shapes(checkpoint.config).items():
        if getattr(checkpoint, name).shape != shape:
            raise CheckpointError(f"{path}: {name}: shape {getattr(checkpoint, name).shape}, "
                                  f"where its config says {shape}")
