"""Evaluate a checkpoint of any implementation, with any: test accuracy and the confusion
matrix.

    python scripts/evaluate.py run.npz                   # on the NumPy network
    python scripts/evaluate.py run.npz --impl torch      # on the torch.nn network
    python scripts/evaluate.py run.npz --impl idiomatic  # on nn.Sequential, in model.eval()

Every implementation writes the same checkpoint, so any of them evaluates any checkpoint.

Rows of the confusion matrix are the true digits, columns the predicted ones.
"""

from __future__ import annotations

import scripts  # noqa: F401  first: a signal during the imports below is one line

# isort: split

import sys
from pathlib import Path

import numpy as np

from ch9_shared.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from ch9_shared.config import CLASSES
from ch9_shared.data import DataError, load
from ch9_shared.threads import one_thread
from numpy_impl.network import Network
from scripts.cli import DEVICE_CHOICES, Parser, about, as_flags, exit_with, integer_in


def predictions(checkpoint: Checkpoint, images: np.ndarray, impl: str, device: str) -> np.ndarray:
    layer_0 = images / 255
    if impl == "numpy":
        network = Network(checkpoint.config, checkpoint.weights_0_1, checkpoint.weights_1_2)
        return network.predict(layer_0).argmax(axis=1)
    import torch

    from torch_impl.device import NoFloat64, full_precision, resolve_device
    from torch_impl.network import Network as TorchNetwork
    from torch_impl.network import from_numpy

    config = checkpoint.config.replace(dtype=str(checkpoint.weights_0_1.dtype))
    dtype = getattr(torch, config.dtype)
    try:
        where = resolve_device(device, dtype)
    except NoFloat64:
        raise NoFloat64(f"the checkpoint is float64, which --device {device} cannot run "
                        "(Apple's GPUs have no float64): use --device cpu") from None
    layer_0_t = torch.as_tensor(layer_0, dtype=dtype, device=where)
    with full_precision(where, dtype), torch.no_grad():
        if impl == "idiomatic":
            from torch_impl.idiomatic import make_model

            sequential = from_numpy(make_model(config), checkpoint.weights_0_1,
                                    checkpoint.weights_1_2, config.dtype, where)
            sequential.eval()  # dropout off
            logits = sequential(layer_0_t)
        else:
            model = from_numpy(TorchNetwork(config), checkpoint.weights_0_1,
                               checkpoint.weights_1_2, config.dtype, where)
            logits = model.predict(layer_0_t)
    return logits.argmax(1).cpu().numpy()


def confusion_matrix(digits: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    matrix = np.zeros((CLASSES, CLASSES), dtype=np.int64)
    np.add.at(matrix, (digits, predicted), 1)
    return matrix


def last_logged(iteration: int, log_every: int) -> int | None:
    """The log's last line before a checkpoint after `iteration` iterations: I:i tests the
    weights after training iteration i, so i + 1 iterations in."""
    i = (iteration - 1) // log_every * log_every
    return i if iteration >= 1 else None


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="scripts/evaluate.py", description=about(__doc__))
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--impl", choices=("numpy", "torch", "idiomatic"), default="numpy",
                        help="which implementation evaluates (default: %(default)s)")
    parser.add_argument("--data-dir", type=Path, help="an IDX dataset folder (default: shipped)")
    parser.add_argument("--test-size", type=integer_in(1), default=10000,
                        help="the first N test images (default: %(default)s)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    args = parser.parse_args(argv)
    try:
        checkpoint = load_checkpoint(args.checkpoint)
        data = load(args.data_dir, train_size=1, test_size=args.test_size)
        with one_thread():
            predicted = predictions(checkpoint, data.test_images, args.impl, args.device)
    except (CheckpointError, DataError, ValueError, ImportError, OSError) as e:
        print(f"scripts/evaluate.py: error: {as_flags(e)}", file=sys.stderr)
        return 2
    matrix = confusion_matrix(data.test_labels, predicted)
    correct = int(np.trace(matrix))
    print(f"{args.checkpoint}: made by {checkpoint.impl} after {checkpoint.iteration} "
          f"iterations ({checkpoint.config.hidden}/{checkpoint.config.output}, "
          f"{checkpoint.config.mode} mode); evaluated with {args.impl}")
    print(f"test accuracy: {correct / len(predicted)} ({correct} of {len(predicted)})")
    if (last := last_logged(checkpoint.iteration, checkpoint.config.log_every)) is not None \
            and last + 1 != checkpoint.iteration:
        print(f"(the run's log tests every {checkpoint.config.log_every} iterations: its last "
              f"line, I:{last}, is after {last + 1} of these {checkpoint.iteration})")
    print("confusion matrix (rows: true digit, columns: predicted):")
    print("     " + " ".join(f"{d:5d}" for d in range(CLASSES)))
    for digit, row in enumerate(matrix):
        print(f"{digit:3d}  " + " ".join(f"{n:5d}" for n in row))
    return 0


if __name__ == "__main__":
    exit_with(main)
