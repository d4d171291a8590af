"""The torch side's checkpoints: a `torch.save` dict of tensors and plain values, loadable
with `weights_only=True`. Same content as ch9_shared/checkpoint.py, weights as state_dict
tensors (nn.Linear's (out, in) layout), read back through the same validator, `checked`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ch9_shared.checkpoint import (
    FORMAT,
    Checkpoint,
    CheckpointError,
    checked,
    config_json,
)
from ch9_shared.files import write_atomically


def save_pt(path: Path, checkpoint: Checkpoint) -> None:
    rng = checkpoint.numpy_rng
    state = {
        "format": FORMAT, "impl": checkpoint.impl, "config": config_json(checkpoint.config),
        "weights_0_1.weight": torch.from_numpy(checkpoint.weights_0_1.T.copy()),
        "weights_1_2.weight": torch.from_numpy(checkpoint.weights_1_2.T.copy()),
        "iteration": checkpoint.iteration,
        "rng_key": torch.from_numpy(rng["state"]["key"].astype(np.int64)),
        "rng_pos": rng["state"]["pos"], "rng_has_gauss": rng["has_gauss"],
        "rng_gauss": rng["gauss"],
        "torch_rng": (None if checkpoint.torch_rng is None
                      else torch.from_numpy(checkpoint.torch_rng)),
        "torch_rng_device": checkpoint.torch_rng_device,
    }
    write_atomically(path, lambda f: torch.save(state, f))


def load_pt(path: Path | str) -> Checkpoint:
    path = Path(path)
    if not path.is_file():  # a folder, or a FIFO that torch.load would wait on forever
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load on a file it cannot read raises about anything
        detail = (str(e).strip().splitlines() or [""])[0][:120]
        raise CheckpointError(f"{path}: not a readable checkpoint (torch.load: "
                              f"{detail or type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a checkpoint of this project")
    fields = {name: (value.numpy() if isinstance(value, torch.Tensor) and name != "torch_rng"
                     else value) for name, value in state.items()}
    for name in ("weights_0_1", "weights_1_2"):
        weight = fields.pop(f"{name}.weight", None)
        is_matrix = isinstance(weight, np.ndarray) and weight.ndim == 2
        fields[name] = weight.T.copy() if is_matrix else weight
    if isinstance(fields.get("torch_rng"), torch.Tensor):
        fields["torch_rng"] = fields["torch_rng"].numpy()
    elif fields.get("torch_rng") is not None:
        raise CheckpointError(f"{path}: torch_rng: {type(fields['torch_rng']).__name__}, not a "
                              "uint8 tensor")
    return checked(path, fields)


def load_any(path: Path) -> Checkpoint:
    """A checkpoint of either side: NumPy's .npz or torch's file."""
    from ch9_shared.checkpoint import load_npz

    try:
        return load_npz(path)
    except CheckpointError as npz_error:
        try:
            return load_pt(path)
        except CheckpointError as pt_error:
            raise (pt_error if path.suffix == ".pt" else npz_error) from None
