"""A hub pick on disk: where its files are, whether they are all there, and their verification.

`assistant.models.picks` downloads a pick; this module only looks at what is on disk, so listing models
stays cheap (no hashing unless asked) and connects nowhere. A pick is *ready* when every file is in place
with its exact size (where the catalogue knows it); the sha256 was checked while downloading, and
Verify re-hashes against the catalogue's sha256 or, where the catalogue has none, the hash the hub
announced and the download recorded next to the file (``NAME.sha256``, as ``sha256sum`` writes it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from assistant.models.entries import (
    BAD_CHECKSUM,
    NOT_DOWNLOADED,
    READY,
    FileSpec,
    ModelEntry,
    pick_location,
    user_models_dir,
)
from assistant.protocols import ModelError

STAGING = ".picks"  # <models>/.picks/<name>/: the files of an install in progress (parts included)
CHUNK = 8 << 20


def staging_dir(entry: ModelEntry, data_dir: Path) -> Path:
    return user_models_dir(data_dir) / STAGING / entry.name


def placed_files(entry: ModelEntry, data_dir: Path) -> list[tuple[FileSpec, Path]]:
    """Each file of the pick and where it lives once installed."""
    home = pick_location(entry, data_dir)
    if entry.is_folder:
        return [(spec, home / spec.target) for spec in entry.files]
    return [(spec, home.parent / spec.target) for spec in entry.file_specs()]


def install_hint(entry: ModelEntry) -> str:
    size = f" (about {entry.size / 1e9:.1f} GB)" if entry.size else ""
    return f"download it with `assistant models install {entry.name}`{size} or Models ▸ Recommended"


def status(entry: ModelEntry, data_dir: Path) -> tuple[str, str]:
    """(status, reason) from what is on disk; nothing is hashed here."""
    placed = placed_files(entry, data_dir)
    present = [(spec, path) for spec, path in placed if path.is_file()]
    if not present:
        started = staging_dir(entry, data_dir).is_dir()
        return NOT_DOWNLOADED, ("partly downloaded: the same install resumes it" if started
                                else install_hint(entry))
    if len(present) < len(placed):
        missing = ", ".join(spec.target for spec, path in placed if not path.is_file())
        return BAD_CHECKSUM, f"{missing} is missing; install it again ({install_hint(entry)})"
    for spec, path in present:
        if spec.size is not None and path.stat().st_size != spec.size:
            return BAD_CHECKSUM, (f"{path} has {path.stat().st_size:,} bytes where {spec.size:,} were "
                                  f"expected; remove it and install again")
    return READY, ""


def ensure(entry: ModelEntry, data_dir: Path) -> Path:
    """The installed file (one-file pick) or folder; ModelError saying how to get it otherwise."""
    state, reason = status(entry, data_dir)
    if state != READY:
        raise ModelError(f"{entry.name} is {'not downloaded yet' if state == NOT_DOWNLOADED else 'damaged'}: "
                         f"{reason}")
    return pick_location(entry, data_dir)


def recorded_sha256(path: Path) -> str | None:
    """The hash the download computed and checked, kept next to the file."""
    try:
        value = path.with_name(path.name + ".sha256").read_text(encoding="utf-8").split()[0].lower()
    except (OSError, IndexError):
        return None
    return value if len(value) == 64 else None


def hash_file(path: Path, tick: Callable[[int], None]) -> str:
    hasher = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            hasher.update(view[:n])
            tick(n)
    return hasher.hexdigest()


def verify_now(entry: ModelEntry, data_dir: Path, tick: Callable[[int], None]) -> tuple[bool | None, str]:
    """Re-hashes every file (the Models dialog's Verify): (None, why) when it is not downloaded."""
    state, reason = status(entry, data_dir)
    if state == NOT_DOWNLOADED:
        return None, reason
    if state != READY:
        return False, reason
    unchecked = 0
    for spec, path in placed_files(entry, data_dir):
        expected = spec.sha256 or recorded_sha256(path)
        got = hash_file(path, tick)
        if expected is None:
            unchecked += 1
        elif got != expected:
            return False, (f"{path.name} is damaged: sha256 {got} where {expected} was expected; remove "
                           f"it and install again")
    if unchecked:
        return True, f"files present; {unchecked} small file(s) had no hash to compare with"
    return True, "sha256 matches"


__all__ = ["STAGING", "ensure", "install_hint", "placed_files", "recorded_sha256", "staging_dir", "status",
           "verify_now"]
