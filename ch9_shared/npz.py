"""An `.npz` read as untrusted bytes, through zipfile rather than np.load: the archive is
refused in the project's words where this reader cannot read it (bytes before it, a folder,
a name twice, an encrypted member, a compression other than NumPy's), and each member's npy
header (dtype, shape) is read and bounded before any of its data, so that a header claiming
gigabytes, or a member that unpacks to more than its header says (a compression bomb), is
refused before it costs memory. Both a checkpoint (ch9_shared/checkpoint.py) and a message
from the grader's child process (exercises/runner.py) are read this way."""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from tokenize import TokenError

import numpy as np

MAX_HEADER = 10000
"""The longest npy header read: NumPy's own writer makes them 128 bytes or so."""
METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
"""The compressions read: what numpy.savez and numpy.savez_compressed write. Python's zipfile
also unpacks bzip2 and LZMA, but with no bound on what one read of theirs unpacks to."""
METHOD_NAMES = {9: "deflate64", 12: "bzip2", 14: "LZMA", 93: "Zstandard", 95: "xz"}


class NpzError(ValueError):
    """An archive this reader does not read: the message names the member and why."""


@dataclass(frozen=True)
class Member:
    """One member of the archive, as its header describes it."""

    info: zipfile.ZipInfo
    name: str  # without ".npy"
    shape: tuple[int, ...]
    dtype: np.dtype
    header_bytes: int
    fortran_order: bool

    @property
    def data_bytes(self) -> int:
        """What the header says its data holds."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def unpacks_beyond_its_header(self) -> bool:
        """Whether the member unpacks to more bytes than its header allows."""
        return self.info.file_size > self.header_bytes + self.data_bytes


def readable(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The archive's entries; NpzError where one cannot be read as a member of an .npz."""
    entries = archive.infolist()
    start = min((info.header_offset for info in entries), default=archive.start_dir)
    if start > 0:
        raise NpzError(f"{start} bytes before its zip archive: not an .npz as NumPy writes one")
    if start < 0:
        raise NpzError(f"{-start} bytes fewer than its zip directory says: damaged or cut short")
    seen: set[str] = set()
    for info in entries:
        name = info.filename.removesuffix(".npy")
        if info.is_dir():
            raise NpzError(f"{info.filename}: a folder in the archive, not an array")
        if name in seen:
            raise NpzError(f"{name}: in the archive twice")
        seen.add(name)
        if info.flag_bits & 0x1:
            raise NpzError(f"{name}: encrypted; an .npz holds plain arrays")
        if info.compress_type not in METHODS:
            method = METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
            raise NpzError(f"{name}: compressed with {method}, which this reader does not "
                           f"unpack: save it as numpy.savez or numpy.savez_compressed do "
                           f"(stored or deflated)")
    return entries


def members(archive: zipfile.ZipFile) -> Iterator[Member]:
    """Each member's header, read without its data (NpzError for an entry not `readable`)."""
    for info in readable(archive):
        name = info.filename.removesuffix(".npy")
        with archive.open(info) as member:
            try:
                version = np.lib.format.read_magic(member)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, fortran_order, dtype = read(member, max_header_size=MAX_HEADER)
            except (ValueError, SyntaxError, TokenError) as e:  # NumPy's parse of the header
                raise NpzError(f"{name}: not an npy array ({e})") from None
            yield Member(info, name, shape, dtype, member.tell(), fortran_order)


def read_array(archive: zipfile.ZipFile, member: Member) -> np.ndarray:
    """The member's array, reading no more than the data its header declares, in C order and
    this machine's byte order whatever layout its writer chose, so that arithmetic on it
    is the same, to the bit, as on the array that was saved. Zipfile checks the member's
    CRC once it is read to its end; NpzError if its data is shorter than its header says."""
    with archive.open(member.info) as stream:
        stream.read(member.header_bytes)
        data = stream.read(member.data_bytes)
        stream.read(1)
    if len(data) != member.data_bytes:
        raise NpzError(f"{member.name}: {len(data)} bytes of data, where its header says "
                       f"{member.data_bytes}")
    native = member.dtype.newbyteorder("=")
    if member.dtype.itemsize == 0:
        return np.zeros(member.shape, native)
    stored = np.frombuffer(data, member.dtype, math.prod(member.shape))
    return np.array(stored.reshape(member.shape, order="F" if member.fortran_order else "C"),
                    native, order="C")
