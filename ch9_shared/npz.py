"""An `.npz` read as untrusted bytes: each member's npy header (dtype, shape) is read and
bounded before any of its data, so that a header claiming gigabytes, or a member that
unpacks to more than its header says (a compression bomb), is refused before it costs
memory. Both a checkpoint (ch9_shared/checkpoint.py) and a message from the grader's child
process (exercises/runner.py) are read this way."""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

MAX_HEADER = 10000
"""The longest npy header read: NumPy's own writer makes them 128 bytes or so."""


@dataclass(frozen=True)
class Member:
    """One member of the archive, as its header describes it."""

    info: zipfile.ZipInfo
    name: str  # without ".npy"
    shape: tuple[int, ...]
    dtype: np.dtype
    header_bytes: int

    @property
    def data_bytes(self) -> int:
        """What the header says its data holds."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def unpacks_beyond_its_header(self) -> bool:
        """Whether the member unpacks to more bytes than its header allows."""
        return self.info.file_size > self.header_bytes + self.data_bytes


def members(archive: zipfile.ZipFile) -> Iterator[Member]:
    """Each member's header, read without its data."""
    for info in archive.infolist():
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read(member, max_header_size=MAX_HEADER)
            yield Member(info, info.filename.removesuffix(".npy"), shape, dtype, member.tell())
