"""Fetch a full IDX dataset with torchvision, which verifies each file's checksum.

Kept out of `numpy_impl` so that the NumPy side never needs torch. Reading is the
NumPy side's job: this only makes sure the files are in `CACHE/NAME/raw/`.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path

from ch9_shared.data import DATASETS, DataError


def fetch(dataset: str, cache_dir: Path) -> Path:
    """Download `dataset` (a key of DATASETS) unless present; return its IDX folder.
    torchvision is imported here, not above: it takes seconds, and only a download needs it."""
    try:
        import torchvision
    except ImportError as e:
        raise DataError(f"fetching {dataset} needs torchvision ({e}): "
                        "pip install -e '.[torch]'") from None

    dataset_class = getattr(torchvision.datasets, DATASETS[dataset])
    folder = cache_dir / DATASETS[dataset]
    missing = _outermost_missing(folder)
    before = set() if missing is not None else set(folder.rglob("*"))
    try:
        # torchvision reports progress on standard output, which carries only the log
        with contextlib.redirect_stdout(sys.stderr):
            for train in (True, False):
                dataset_class(root=cache_dir, train=train, download=True)
    except (OSError, RuntimeError, KeyboardInterrupt) as e:
        # a failed or interrupted fetch leaves nothing behind: what it made goes, what was
        # there stays
        if missing is not None:
            shutil.rmtree(missing, ignore_errors=True)
        else:
            for path in set(folder.rglob("*")) - before:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        if isinstance(e, KeyboardInterrupt):
            raise
        detail = " ".join(str(e).split())  # torchvision's is a line for each mirror tried
        raise DataError(f"could not fetch {dataset} into {cache_dir}: {detail}") from None
    return folder / "raw"


def _outermost_missing(path: Path) -> Path | None:
    """The outermost folder on the way to `path` that does not exist yet; None if it does."""
    missing = None
    while not path.exists() and not path.is_symlink() and path != path.parent:
        missing, path = path, path.parent
    return missing
