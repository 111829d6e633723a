"""Which files a source holds: a safe walk of folders, and what may be added as a source at all.

The walk uses `os.scandir` and `os.stat` only; no file is opened here. It never follows a link to a
folder (as `find` and ripgrep do not by default), so a link loop cannot make it circle, and a link that
points at itself is reported as such; a link to a file is followed. Pipes, sockets and devices are
reported and never opened (a FIFO would block the reader for ever, a device never ends). Hidden
folders (.git, .venv) and dependency caches (node_modules, __pycache__) are not entered. Files of kinds
the library does not read are passed over without a message (a photo folder is not an error).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from assistant.documents.errors import SourceRefused
from assistant.documents.formats import Kind, kind_of

logger = logging.getLogger(__name__)

SKIP_FOLDERS = {"node_modules", "__pycache__", "site-packages", "venv"}
MAX_DEPTH = 64


@dataclass(frozen=True)
class FoundFile:
    path: str
    size: int
    mtime_ns: int
    kind: Kind


@dataclass(frozen=True)
class PassedOver:
    """A file found but not readable as a document; `reason` is for the user."""

    path: str
    reason: str
    kind: str = ""


def checked_source(path: str | Path) -> tuple[str, bool]:
    """The absolute path of a file or folder that may be added, and whether it is a folder.

    Raises SourceRefused (a message naming the path) for a missing path, a device or pipe, a web
    address, a network share, or a file of a kind the library does not read.
    """
    raw = str(path).strip()
    if not raw or "\x00" in raw:
        raise SourceRefused("There is no file or folder name.")
    if "://" in raw:
        raise SourceRefused(f"Cannot add {raw}: it is a web address, not a file on this computer.")
    if raw.startswith(("\\\\", "//")):
        raise SourceRefused(f"Cannot add {raw}: it is on a network share; copy it to this computer first.")
    absolute = os.path.abspath(os.path.expanduser(raw))
    try:
        info = os.stat(absolute)
    except FileNotFoundError:
        raise SourceRefused(f"Cannot add {absolute}: it does not exist.") from None
    except OSError as error:
        raise SourceRefused(f"Cannot add {absolute}: {_os_reason(error)}.") from None
    if stat.S_ISDIR(info.st_mode):
        return str(Path(absolute).resolve()), True
    reason = _not_regular(info.st_mode)
    if reason:
        raise SourceRefused(f"Cannot add {absolute}: {reason}.")
    if kind_of(absolute) is None:
        raise SourceRefused(f"Cannot add {absolute}: {Path(absolute).suffix or 'files without an extension'} "
                            "files are not read (PDF, DOCX, Markdown, text, HTML and source code are).")
    return str(Path(absolute).resolve()), False


def walk(root: str, is_folder: bool) -> Iterator[FoundFile | PassedOver]:
    """Every document under `root` (or `root` itself when it is a file), in a stable order."""
    if not is_folder:
        yield _examine(root)
        return
    stack: list[tuple[str, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            with os.scandir(folder) as entries:
                items = sorted(entries, key=lambda e: e.name)
        except OSError as error:
            yield PassedOver(folder, f"the folder cannot be read ({_os_reason(error)})")
            continue
        subfolders = []
        for entry in items:
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError as error:
                yield PassedOver(entry.path, _os_reason(error))
                continue
            if is_dir:
                if entry.name.startswith(".") or entry.name in SKIP_FOLDERS:
                    continue
                if depth + 1 > MAX_DEPTH:
                    yield PassedOver(entry.path, f"folders nested deeper than {MAX_DEPTH} are not read")
                    continue
                subfolders.append(entry.path)
                continue
            if entry.name.startswith("."):
                continue
            if is_link and _links_to_folder(entry.path):
                continue  # links to folders are not followed (no loops, no walking out of the source)
            if kind_of(entry.name) is not None:
                yield _examine(entry.path)
        stack.extend((path, depth + 1) for path in reversed(subfolders))


def _examine(path: str) -> FoundFile | PassedOver:
    try:
        info = os.stat(path)  # follows a link to a file; a loop raises ELOOP
    except FileNotFoundError:
        return PassedOver(path, "it is a link to a file that does not exist" if os.path.islink(path)
                          else "it disappeared")
    except OSError as error:
        return PassedOver(path, _os_reason(error))
    reason = _not_regular(info.st_mode)
    kind = kind_of(path)
    if reason:
        return PassedOver(path, reason, kind or "")
    if kind is None:
        return PassedOver(path, "files of this kind are not read")
    if not os.access(path, os.R_OK):
        return PassedOver(path, "permission to read it was denied", kind)
    return FoundFile(path, info.st_size, info.st_mtime_ns, kind)


def _links_to_folder(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def _not_regular(mode: int) -> str:
    if stat.S_ISREG(mode):
        return ""
    if stat.S_ISFIFO(mode):
        return "it is a pipe (FIFO), not a regular file; it was not opened"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device, not a regular file; it was not opened"
    if stat.S_ISSOCK(mode):
        return "it is a socket, not a regular file; it was not opened"
    if stat.S_ISDIR(mode):
        return "it is a folder"
    return "it is not a regular file"


def _os_reason(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "it is a link that points to itself (a link loop)"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission to read it was denied"
    return error.strerror or str(error)
