"""Fetch a full IDX dataset with torchvision, which verifies each file's checksum.

Kept out of `numpy_impl` so that the NumPy side never needs torch. Reading is the
NumPy side's job: this only makes sure the files are in `CACHE/NAME/raw/`.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from numpy_impl.data import DATASETS, DataError


def fetch(dataset: str, cache_dir: Path) -> Path:
    """Download `dataset` (a key of DATASETS) unless present; return its IDX folder.
    torchvision is imported here, not above: it takes seconds, and only a download needs it."""
    try:
        import torchvision
    except ImportError as e:
        raise DataError(f"fetching {dataset} needs torchvision ({e}): "
                        "pip install -e '.[torch]'") from None

    dataset_class = getattr(torchvision.datasets, DATASETS[dataset])
    try:
        # torchvision reports progress on standard output, which carries only the log
        with contextlib.redirect_stdout(sys.stderr):
            for train in (True, False):
                dataset_class(root=cache_dir, train=train, download=True)
    except (OSError, RuntimeError) as e:
        raise DataError(f"could not fetch {dataset} into {cache_dir}: {e}") from None
    return cache_dir / DATASETS[dataset] / "raw"
