"""Writing files whole or not at all, and finding out before a run that they can be written."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO

TEMP_PREFIX = ".tmp-"
"""The temporary file's name: short, so that it fits wherever the final name fits."""


STOP_SIGNALS = tuple(getattr(signal, name) for name in (
    "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM",
    "SIGPROF", "SIGXCPU", "SIGBREAK") if hasattr(signal, name))
"""The signals that end a program by default and that someone sends (a terminal closed,
a kill, a timer, a CPU-time limit), those this system has: each stops a script as SIGTERM
does (scripts/exits.py)."""


class OutputError(ValueError):
    """An output path that cannot be written; the message names it and says why."""


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """The STOP_SIGNALS wait until the block ends (then they arrive as they would have): a
    write is never cut in half, nor its temporary file left behind. Only the main thread
    can hold signals; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    before = {number: signal.signal(number, lambda number, frame: caught.append(number))
              for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        if caught:
            signal.raise_signal(caught[0])


class _Recording(io.FileIO):
    """A file that remembers the first OSError of a write: a library that wraps it in its own
    error (torch: RuntimeError) is reported as the OSError it was (a full disk)."""

    error: OSError | None = None

    def write(self, data) -> int:  # type: ignore[override]
        try:
            return super().write(data)
        except OSError as e:
            self.error = self.error or e
            raise


def write_atomically(path: Path, write: Callable[[IO[bytes]], object],
                     follow_links: bool = True) -> None:
    """write(file) to a temporary file beside `path`, then rename it over `path`: a reader
    (or a run killed half-way) never sees half a file. A symbolic link is written through
    (its target is replaced, the link stays); a path that is not a regular file (a device,
    a pipe) or that the user may not write is refused, never replaced. A file replaced keeps
    its mode (a private checkpoint stays private); the STOP_SIGNALS wait for the write.
    With follow_links=False (`path` fixed by output_target before untrusted code ran) a
    link found at `path` is replaced itself, never followed, and only a file of the user's
    own lends its mode: what someone else planted there cannot steer the write."""
    if follow_links:
        path = Path(os.path.realpath(path))
        not_a_file(path)
        not_read_only(path)
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
    else:
        mode = _own_mode(path, 0o666 & ~_umask())
    with signals_deferred():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
        try:
            raw = _Recording(fd, "wb")
            try:
                with io.BufferedWriter(raw) as f:
                    write(f)
                os.chmod(tmp, mode)
                os.replace(tmp, path)
            except Exception as e:
                error = raw.error or e
                if isinstance(error, OSError):  # named by the file asked for, not the temporary
                    raise OSError(error.errno, error.strerror, str(path)) from None
                raise
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _own_mode(path: Path, default: int) -> int:
    """The permissions of the regular file at `path` if this user owns it, `default` for
    anything else (nothing, a link: not followed, someone else's file); a read-only file
    is refused, as write_atomically refuses one."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return default
    if not stat.S_ISREG(found.st_mode):
        return default
    not_read_only(path)
    owner = os.geteuid() if hasattr(os, "geteuid") else found.st_uid  # Windows: no owners
    return stat.S_IMODE(found.st_mode) & 0o777 if found.st_uid == owner else default


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def _can_write_in(folder: Path, flag: str, path: Path) -> None:
    """Create and remove a scratch file in `folder`: the one test that permissions, a
    read-only disk and the like cannot fool."""
    try:
        fd, scratch = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX)
        os.close(fd)
        os.unlink(scratch)
    except OSError as e:
        raise OutputError(f"{flag} {path}: cannot write in {folder} ({e.strerror})") from None


def _special(path: Path) -> bool:
    """Something other than a regular file or a folder stands at `path`: a device, a pipe."""
    return path.exists() and not path.is_file() and not path.is_dir()


def _read_only(path: Path) -> bool:
    """A file stands at `path` that the user may not write (or that nobody may: mode 444
    holds even for root)."""
    return path.is_file() and (not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222)


def not_a_file(path: Path, flag: str = "") -> None:
    """OutputError if something other than a regular file stands at `path`."""
    if _special(path):
        raise OutputError(f"{flag + ' ' if flag else ''}{path}: that is not a regular file (a "
                          "device or a pipe?); give a file's path")


def not_read_only(path: Path, flag: str = "") -> None:
    """OutputError if a file stands at `path` that the user may not write: it is refused,
    never replaced."""
    if _read_only(path):
        raise OutputError(f"{flag + ' ' if flag else ''}{path}: the file is read-only for you; "
                          "give another path, or make it writable first (chmod u+w)")


def file_path(text: str) -> Path:
    """`text`, a path given where a file is to be written, as a Path; OutputError where it
    names a folder: it ends in a path separator, `.` or `..`. Path would drop the separator
    or the `.`, and a checkpoint saved to `ckpts/` would be a file called ckpts."""
    last = text.replace(os.altsep or os.sep, os.sep).rsplit(os.sep, 1)[-1]
    if text and last in ("", ".", ".."):
        raise OutputError(f"{text}: that names a folder; give a file name")
    return Path(text)


def writable_file(flag: str, path: Path) -> Path:
    """`path` if a file can be written there (through a symbolic link: its target);
    OutputError otherwise. Writes nothing. (A path that names a folder by its last
    separator is refused where the flag is parsed: file_path.)"""
    if path.is_dir():
        raise OutputError(f"{flag} {path}: that is a folder; give a file name")
    not_a_file(path, flag)
    not_read_only(path, flag)
    folder = Path(os.path.realpath(path)).parent
    if not folder.exists():
        raise OutputError(f"{flag} {path}: the folder {folder} does not exist")
    if not folder.is_dir():
        raise OutputError(f"{flag} {path}: {folder} is a file, not a folder")
    _can_write_in(folder, flag, path)
    return path


def output_target(flag: str, path: Path) -> Path:
    """The file that `path` names, resolved now, before untrusted code runs (a grader's
    answers), for write_atomically(..., follow_links=False) to write at the end: a link
    planted there meanwhile is then replaced, never followed. A symbolic link on the way
    that stands in a folder others may write (group or world: /tmp, sticky or not) is
    refused, OutputError: anyone could have planted it. Your own link in your own folder
    is fine; it is followed once, here."""
    for link in _links_on(Path(os.path.abspath(path))):
        if os.name == "posix" and os.stat(link.parent).st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise OutputError(f"{flag} {path}: {link} is a symbolic link in a folder others may "
                              f"write, so anyone could have planted it; give the file's own "
                              f"path ({os.path.realpath(link)}) or a path in a private folder")
    return Path(os.path.realpath(path))


def _links_on(path: Path, most: int = 40) -> list[Path]:
    """The symbolic links that resolving the absolute `path` follows, each named in its
    folder's resolved path (at most `most`: a loop of links ends there)."""
    links: list[Path] = []
    done, rest = Path(path.anchor), list(path.parts[1:])
    while rest and len(links) < most:
        here = done / rest.pop(0)
        if here.name == "..":
            done = done.parent
        elif os.path.islink(here):
            links.append(here)
            target = Path(os.readlink(here))
            rest[:0] = target.parts[1:] if target.is_absolute() else target.parts
            done = Path(target.anchor) if target.is_absolute() else done
        else:
            done = here
    return links


Paths = Path | Iterable[Path] | None
"""A flag's file, its files (a folder's figures, a data folder's files), or None."""


def _each(paths: Paths) -> list[Path]:
    if paths is None:
        return []
    return [paths] if isinstance(paths, Path) else list(paths)


def distinct(outputs: Mapping[str, Paths],
             inputs: Mapping[str, Paths] | None = None) -> None:
    """OutputError if an output would overwrite an input or another output: `outputs` and
    `inputs` map each flag to its file or files, None where it is not given. Paths are
    compared resolved (symbolic links, `..`)."""
    read = {os.path.realpath(path): flag for flag, paths in (inputs or {}).items()
            for path in _each(paths)}
    written: dict[str, tuple[str, Path]] = {}
    for flag, paths in outputs.items():
        for path in _each(paths):
            real = os.path.realpath(path)
            if real in read:
                raise OutputError(f"{flag} {path}: that is a file {read[real]} reads, and "
                                  f"writing it would destroy it; give {flag} another path")
            if real in written and written[real][0] == flag:
                raise OutputError(f"{flag} writes {written[real][1]} and {path}, which are one "
                                  "file (a symbolic link?); remove the link, or give another "
                                  "path")
            if real in written:
                raise OutputError(f"{written[real][0]} and {flag} name the same file, {path}: "
                                  "give each its own")
            written[real] = flag, path


def writable_folder(flag: str, path: Path) -> Path:
    """`path` if it is a folder, or can become one, that files can be written in;
    OutputError otherwise. Creates nothing: a run makes its folder when it writes to it."""
    if _special(path):
        raise OutputError(f"{flag} {path}: that is not a folder (a device or a pipe?); "
                          "give a folder")
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


def writable_files(flag: str, folder: Path, names: Iterable[str]) -> list[Path]:
    """The files `names` in `folder`, if all of them can be written: `folder` is a folder
    or can become one (writable_folder), and at none of the names stands a folder, a
    device, a pipe or a file the user may not write (through a symbolic link: at its
    target, whose folder must exist). OutputError otherwise; writes nothing. A run checks
    here, before its work, what it would otherwise find only when it writes."""
    writable_folder(flag, folder)
    paths = [folder / name for name in names]
    for path in paths:
        if found := _in_the_way(path):
            raise OutputError(f"{flag} {folder}: {path} is {found}, where {flag} writes "
                              f"{path.name}; move it away, or give another folder")
        if path.is_symlink():
            writable_file(flag, path)
    return paths


def _in_the_way(path: Path) -> str | None:
    """What stands at `path` that a file written there must not replace, in words; None
    where nothing does."""
    if path.is_dir():
        return "a folder"
    if _special(path):
        return "not a regular file (a device or a pipe?)"
    if _read_only(path):
        return "a file that is read-only for you"
    return None
