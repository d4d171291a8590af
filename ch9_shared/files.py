"""Writing files whole or not at all, and finding out before a run that they can be written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


class OutputError(ValueError):
    """An output path that cannot be written; the message names it and says why."""


def write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """write(file) to a temporary file beside `path`, then rename it over `path`: a reader
    (or a run killed half-way) never sees half a file. A symbolic link is written through
    (its target is replaced, the link stays); a path that is not a regular file (a device,
    a pipe) is refused, never replaced by a file."""
    path = Path(os.path.realpath(path))
    not_a_file(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _can_write_in(folder: Path, flag: str, path: Path) -> None:
    """Create and remove a scratch file in `folder`: the one test that permissions, a
    read-only disk and the like cannot fool."""
    try:
        fd, scratch = tempfile.mkstemp(dir=folder, prefix=".write-test.")
        os.close(fd)
        os.unlink(scratch)
    except OSError as e:
        raise OutputError(f"{flag} {path}: cannot write in {folder} ({e.strerror})") from None


def not_a_file(path: Path, flag: str = "") -> None:
    """OutputError if something other than a regular file stands at `path`."""
    if path.exists() and not path.is_file() and not path.is_dir():
        raise OutputError(f"{flag + ' ' if flag else ''}{path}: that is not a regular file (a "
                          "device or a pipe?); give a file's path")


def writable_file(flag: str, path: Path) -> Path:
    """`path` if a file can be written there (through a symbolic link: its target);
    OutputError otherwise. Writes nothing."""
    if path.is_dir():
        raise OutputError(f"{flag} {path}: that is a folder; give a file name")
    not_a_file(path, flag)
    folder = Path(os.path.realpath(path)).parent
    if not folder.exists():
        raise OutputError(f"{flag} {path}: the folder {folder} does not exist")
    if not folder.is_dir():
        raise OutputError(f"{flag} {path}: {folder} is a file, not a folder")
    _can_write_in(folder, flag, path)
    return path


def distinct(outputs: dict[str, Path | None]) -> None:
    """OutputError if two of the flags name the same file (the second would overwrite the
    first): `outputs` maps each flag to its path, or None where it is not given."""
    seen: dict[str, str] = {}
    for flag, path in outputs.items():
        if path is None:
            continue
        real = os.path.realpath(path)
        if real in seen:
            raise OutputError(f"{seen[real]} and {flag} name the same file, {path}: give each "
                              "its own")
        seen[real] = flag


def writable_folder(flag: str, path: Path) -> Path:
    """`path` if it is a folder, or can become one, that files can be written in;
    OutputError otherwise. Creates nothing: a run makes its folder when it writes to it."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"{flag} {path}: that is a file; give a folder")
    if path.is_symlink() and not path.exists():
        raise OutputError(f"{flag} {path}: a symbolic link to nothing; give a folder")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{flag} {path}: {existing} is a file, not a folder")
    _can_write_in(existing, flag, path)
    return path
