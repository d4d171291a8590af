"""The torch side's checkpoints: a `torch.save` dict of tensors and plain values, loadable
with `weights_only=True`. Same content as ch9_shared/checkpoint.py, weights as state_dict
tensors (nn.Linear's (out, in) layout). A checkpoint written before the generator's device
was saved has none: it is read as "cpu"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ch9_shared.checkpoint import (
    FORMAT,
    Checkpoint,
    CheckpointError,
    config_from_json,
    config_json,
    generator_device,
    numpy_rng_state,
)
from ch9_shared.files import write_atomically
from torch_impl.network import chapter_layout


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
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise CheckpointError(f"{path}: not a checkpoint of this project")
        torch_rng = state["torch_rng"]
        return Checkpoint(
            chapter_layout(state["weights_0_1.weight"]),
            chapter_layout(state["weights_1_2.weight"]), int(state["iteration"]),
            numpy_rng_state(state["rng_key"].numpy(), int(state["rng_pos"]),
                            int(state["rng_has_gauss"]), float(state["rng_gauss"])),
            None if torch_rng is None else torch_rng.numpy(),
            config_from_json(state["config"]), state["impl"],
            generator_device(state.get("torch_rng_device"), path))
    except CheckpointError:
        raise
    except Exception as e:  # torch.load on a file it cannot read raises about anything
        detail = (str(e).strip().splitlines() or [""])[0][:120]
        raise CheckpointError(f"{path}: not a readable checkpoint (torch.load: "
                              f"{detail or type(e).__name__})") from None


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
