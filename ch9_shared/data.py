"""MNIST-style data: an IDX reader and the chapter's slice of MNIST, shipped in the package.

IDX is the format MNIST, Fashion-MNIST and KMNIST come in: two zero bytes, a type code,
the number of dimensions, each dimension as a big-endian uint32, then the values.
A data folder holds four such files, gzipped or not, either flat or in torchvision's
`NAME/raw/` layout.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ch9_shared.config import CLASSES, PIXELS

SHIPPED = Path(__file__).parent / "mnist"
"""The first 1000 MNIST training images and all 10000 test images (tools/build_data.py)."""

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

DATASETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}
"""Datasets that torchvision can fetch, and the folder each lands in (`CACHE/NAME/raw`)."""

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(ValueError):
    """Data that cannot be read or used; the message names the file and the fix."""


@dataclass(frozen=True)
class Dataset:
    """Images as uint8 rows of 784 pixels, labels as uint8 digits 0..9."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def read_idx(path: Path, limit: int | None = None) -> np.ndarray:
    """Read one IDX file (plain or `.gz`) into an array of its stored shape and type; with
    `limit`, only its first `limit` items: a `.gz` is unpacked only that far."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            header = f.read(4)
            if len(header) < 4 or header[:2] != b"\0\0" or header[2] not in IDX_TYPES:
                raise DataError(f"{path}: not an IDX file (wrong magic number {header.hex()!r})")
            ndim = header[3]
            dims_bytes = f.read(4 * ndim)
            if len(dims_bytes) < 4 * ndim:
                raise DataError(f"{path}: truncated IDX header")
            shape = tuple(int(d) for d in np.frombuffer(dims_bytes, dtype=">u4"))
            dtype = np.dtype(IDX_TYPES[header[2]])
            size = math.prod(shape) * dtype.itemsize
            if opener is open and 4 + 4 * ndim + size != os.fstat(f.fileno()).st_size:
                have = os.fstat(f.fileno()).st_size - 4 - 4 * ndim
                raise DataError(f"{path}: truncated or padded: header says {size} data bytes, "
                                f"the file has {have}")
            if limit is not None and shape and limit < shape[0]:
                shape = (limit, *shape[1:])
                size = math.prod(shape) * dtype.itemsize
                data = _read_at_most(f, size)
            else:
                data = _read_at_most(f, size + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if len(data) != size:
        raise DataError(f"{path}: truncated or padded: header says {size} data bytes, "
                        f"the file has {len(data)}{'+' if len(data) > size else ''}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def idx_length(path: Path) -> int:
    """The number of items an IDX file's header claims, read without its data."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            header = f.read(8)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    return int.from_bytes(header[4:8], "big")


def _read_at_most(f, n: int, chunk: int = 1 << 16) -> bytes:
    """Up to n bytes, in chunks: a lying header cannot make us allocate more than the file holds."""
    parts, left = [], n
    while left > 0 and (part := f.read(min(left, chunk))):
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def find_idx_folder(data_dir: Path) -> Path:
    """The folder under `data_dir` that holds the IDX files: itself, `raw/` or `NAME/raw/`."""
    if not data_dir.is_dir():
        raise DataError(f"data folder {data_dir} does not exist or is not a folder")
    candidates = [data_dir, data_dir / "raw", *sorted(data_dir.glob("*/raw"))]
    found = [d for d in candidates if idx_path(d, FILES["train_images"]) is not None]
    if not found:
        raise DataError(f"no IDX dataset in {data_dir}: expected {FILES['train_images']}[.gz] "
                        "and its three siblings, flat or under NAME/raw/")
    if len(found) > 1 and found[0] != data_dir:
        names = ", ".join(str(d.parent) for d in found)
        raise DataError(f"{data_dir} holds several datasets ({names}): pass one of them")
    return found[0]


def idx_path(folder: Path, name: str) -> Path | None:
    """The extracted file if present (faster), else the gzipped one, else None."""
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            return path
    return None


def load(data_dir: Path | None = None, train_size: int = 1000, test_size: int = 10000) -> Dataset:
    """The first `train_size` training and `test_size` test images of a dataset.

    With no `data_dir`, the chapter's slice of MNIST that ships with the package.
    """
    folder = SHIPPED if data_dir is None else find_idx_folder(Path(data_dir))
    arrays, lengths = {}, {}
    for key, name in FILES.items():
        path = idx_path(folder, name)
        if path is None:
            raise DataError(f"{folder}: {name}[.gz] is missing")
        arrays[key] = read_idx(path, train_size if key.startswith("train") else test_size)
        lengths[key] = idx_length(path)
    for split, size in (("train", train_size), ("test", test_size)):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        where = f"{folder} ({split})"
        if images.ndim != 3 or images.shape[1] * images.shape[2] != PIXELS:
            raise DataError(f"{where}: images of shape {images.shape[1:]}, the network takes "
                            "28x28 (784 pixels)")
        if images.dtype != np.uint8 or labels.dtype != np.uint8 or labels.ndim != 1:
            raise DataError(f"{where}: expected uint8 images and a 1-D uint8 label file")
        if lengths[f"{split}_images"] != lengths[f"{split}_labels"]:
            raise DataError(f"{where}: {lengths[f'{split}_images']} images but "
                            f"{lengths[f'{split}_labels']} labels")
        if size > len(images):
            more = (" (the shipped data is the chapter's slice: pass `data_dir` with the full "
                    "MNIST, or `dataset` mnist with `download`)") if data_dir is None else ""
            raise DataError(f"{where}: asked for {size} images, there are {len(images)}{more}")
        if labels[:size].max(initial=0) >= CLASSES:
            raise DataError(f"{where}: label {labels[:size].max()} out of range 0..{CLASSES - 1}")
        arrays[f"{split}_images"] = images[:size].reshape(size, PIXELS)
        arrays[f"{split}_labels"] = labels[:size]
    return Dataset(**arrays)
