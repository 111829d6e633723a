"""The user's own model files: add a GGUF (and its projector), remove one, verify everything.

Adding checks the file before anything is written (a damaged GGUF is refused with the reason), then
copies it into the user models folder under a temp name, fsyncs and renames it, so the model list never
shows half a file. Its sha256, computed while copying, is kept next to it (``NAME.gguf.sha256``, the
format of ``sha256sum``) so Verify can later tell a file damaged on disk from a sound one. A hard link
or symbolic link saves the copy when the user asks. A vision model's projector (mmproj) is brought
along when it was dropped with the model or sits next to it and pairs (``assistant.models.vision_pairing``).

Removing only ever touches files in the user's models folders, never a catalogue file that pip put
in site-packages. Pure Python (no Qt), shared by the Models dialog and ``assistant models``.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.models import assembly, gguf
from assistant.models.catalog import ModelEntry, ModelError, Progress, all_models, user_model_dirs
from assistant.models.hub_files import split_parts
from assistant.models.projector import looks_like_projector_file
from assistant.models.vision_pairing import VisionPair, find_vision_pair

log = logging.getLogger(__name__)

BUFFER = 4 << 20
SPACE_MARGIN = 16 << 20
MODES = ("copy", "hardlink", "symlink")
ADDING = ".adding"  # the suffix of a copy being made (hidden, renamed into place when whole)


class Cancelled(ModelError):
    def __init__(self) -> None:
        super().__init__("stopped; nothing was changed")


@dataclass
class Added:
    """What an add did: the files now in the models folder, and notes for the user."""

    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    name: str
    ok: bool | None  # None: nothing on disk to check (not assembled yet, or missing)
    message: str


def hash_sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


# --- add ------------------------------------------------------------------------------------------

def add_models(sources: Sequence[Path], models_dir: Path, *, mode: str = "copy",
               progress: Progress | None = None, cancel: threading.Event | None = None) -> Added:
    """Adds each dropped or picked GGUF; a chat model's projector next to it comes along. Raises
    ModelError for the first file that cannot be added (files added before it stay)."""
    if mode not in MODES:
        raise ModelError(f"unknown way to add a file: {mode!r} (one of {', '.join(MODES)})")
    wanted: list[Path] = []
    notes: list[str] = []
    for source in (Path(s) for s in sources):
        _check_source(source, models_dir)
        if source not in wanted:
            wanted.append(source)
    for source in list(wanted):
        if looks_like_projector_file(source):
            continue
        pair = find_vision_pair(source)  # searches the source's own folder, not the models folder
        if isinstance(pair, VisionPair) and pair.mmproj not in wanted:
            if (models_dir / pair.mmproj.name).exists():
                notes.append(f"{pair.mmproj.name} (its projector) is already in the models folder")
            else:
                wanted.append(pair.mmproj)
                notes.append(f"{pair.mmproj.name} was added too: it is the projector of {source.name}")
    _check_writable(models_dir)
    sweep_stale_copies(models_dir)
    done = Added(notes=notes)
    total = sum(p.stat().st_size for p in wanted) if mode == "copy" else 0
    counted = [0]

    def tick(n: int) -> None:
        counted[0] += n
        if progress is not None:
            progress(f"Adding {source.name}", counted[0], total)

    for source in wanted:
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        done.files.append(_add_one(source, models_dir, mode, tick, cancel))
    return done


def _check_source(source: Path, models_dir: Path) -> None:
    if not source.is_file():
        raise ModelError(f"{source} is not a file")
    if source.suffix.lower() != ".gguf":
        raise ModelError(f"{source.name} is not a GGUF model (.gguf); CLIP models are added with "
                         "`assistant models import-clip`")
    if source.resolve().parent == models_dir.resolve():
        raise ModelError(f"{source.name} is already in the models folder")
    try:
        gguf.preflight(source)
    except gguf.GGUFError as exc:
        raise ModelError(f"{source.name} cannot be added: {exc}") from None
    if (models_dir / source.name).exists():
        raise ModelError(f"a model named {source.name} is already in {models_dir}; remove it first")


def _check_writable(models_dir: Path) -> None:
    """A read-only folder is named as such, before a free-space check could blame the disk size."""
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _disk_error(exc, models_dir, "create the models folder") from None
    if not os.access(models_dir, os.W_OK):  # EROFS shows here even for root
        raise ModelError(f"the models folder {models_dir} is read-only or not yours to write; "
                         "choose a writable data folder")


def _add_one(source: Path, models_dir: Path, mode: str, tick: Callable[[int], None],
             cancel: threading.Event | None) -> Path:
    dest = models_dir / source.name
    tmp: Path | None = None
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        if mode == "symlink":
            os.symlink(source.resolve(), dest)
            return dest
        if mode == "hardlink":
            try:
                os.link(source, dest)
                return dest
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                log.info("%s is on another disk than %s; copying it instead", source, models_dir)
        size = source.stat().st_size
        free = shutil.disk_usage(models_dir).free
        if free < size + SPACE_MARGIN:
            raise ModelError(f"not enough disk space to add {source.name}: it needs {size / 1e6:.0f} MB in "
                             f"{models_dir}, only {free / 1e6:.0f} MB are free")
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=ADDING, dir=models_dir)
        tmp = Path(name)
        lock = _hold(tmp)  # until the rename: a copy nobody holds is one a killed add left behind
        try:
            sha = _copy(source, fd, tick, cancel)
            os.replace(tmp, dest)
            tmp = None
        finally:
            if lock is not None:
                os.close(lock)
        hash_sidecar(dest).write_text(f"{sha}  {dest.name}\n", encoding="utf-8")
        assembly.fsync_dir(models_dir)
        log.info("added %s (sha256 %s)", dest, sha)
        return dest
    except OSError as exc:
        raise _disk_error(exc, models_dir, f"add {source.name}") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)  # a full disk or a cancel leaves nothing behind


def _hold(path: Path) -> int | None:
    """An exclusive lock on `path` through a descriptor of its own; the kernel drops it when the process
    ends, however it ends. None where there is no flock (Windows): nothing is swept there."""
    try:
        import fcntl
    except ImportError:
        return None
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def sweep_stale_copies(models_dir: Path) -> list[Path]:
    """Deletes the temp copies of adds that were killed mid-copy (kill -9, a crash, a power cut): a
    hidden file as large as the model, which nothing else would ever remove. A copy still being made
    holds its lock (`_hold`) and is left alone. Returns what was deleted."""
    try:
        import fcntl
    except ImportError:
        return []
    swept = []
    for temp in Path(models_dir).glob(f".*{ADDING}"):
        try:
            fd = os.open(temp, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            temp.unlink(missing_ok=True)
            swept.append(temp)
        except OSError:
            continue  # its add is still running
        finally:
            os.close(fd)
    if swept:
        log.info("removed %d copies left by an interrupted add: %s", len(swept),
                 ", ".join(p.name for p in swept))
    return swept


def _copy(source: Path, fd: int, tick: Callable[[int], None], cancel: threading.Event | None) -> str:
    hasher = hashlib.sha256()
    buf = bytearray(BUFFER)
    view = memoryview(buf)
    with open(source, "rb", buffering=0) as src, os.fdopen(fd, "wb", buffering=0) as out:
        while n := src.readinto(buf):
            hasher.update(view[:n])
            chunk = view[:n]
            while chunk:
                chunk = chunk[out.write(chunk):]
            tick(n)
            if cancel is not None and cancel.is_set():
                raise Cancelled()
        os.fsync(out.fileno())
    return hasher.hexdigest()


def _disk_error(exc: OSError, folder: Path, action: str) -> ModelError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ModelError(f"the disk is full: could not {action} in {folder}; the partial copy was "
                          "removed. Free some space and try again")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return ModelError(f"the models folder {folder} is read-only or not yours to write "
                          f"({exc.strerror}); could not {action}")
    return ModelError(f"could not {action}: {exc.strerror or exc}")


# --- remove ---------------------------------------------------------------------------------------

def removable(entry: ModelEntry, data_dir: Path) -> bool:
    """Only the user's own files in the user models folders; catalogue models belong to pip."""
    if entry.source != "user-file" or entry.path is None:
        return False
    folders = {d.resolve() for d in user_model_dirs(data_dir)}
    return entry.path.parent.resolve() in folders


def remove_model(name: str, data_dir: Path) -> list[Path]:
    """Deletes a user model (a link: only the link) and its sidecars; returns what was removed."""
    entries = all_models(data_dir)
    entry = next((e for e in entries if e.name == name or (e.path is not None and e.filename == name)),
                 None)
    if entry is None:
        raise ModelError(f"no model named {name!r}; `assistant models` lists them")
    if not removable(entry, data_dir):
        raise ModelError(f"{entry.name} is part of the catalogue (installed with pip); uninstall its "
                         "package to remove it")
    assert entry.path is not None
    removed: list[Path] = []
    parts = split_parts(entry.path)  # a split model: every part (the list shows only the first)
    for path in [f for p in parts for f in (p, hash_sidecar(p), p.with_name(p.name + ".verified"))]:
        try:
            if path.is_symlink() or path.exists():
                path.unlink()
                removed.append(path)
        except OSError as exc:
            raise _disk_error(exc, path.parent, f"remove {path.name}") from None
    log.info("removed %s", ", ".join(map(str, removed)))
    return removed


# --- verify ---------------------------------------------------------------------------------------

def verify_models(data_dir: Path, progress: Progress | None = None,
                  cancel: threading.Event | None = None) -> list[Verdict]:
    """Re-reads every model on disk: catalogue files against their sha256, the user's GGUF files for
    structure and against the hash recorded when they were added or downloaded."""
    for folder in user_model_dirs(data_dir):
        if folder.is_dir():
            sweep_stale_copies(folder)
    entries = all_models(data_dir)
    verdicts: list[Verdict] = []
    for entry in entries:
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        tick = _ticker(f"Verifying {entry.title}", entry.size or 0, progress, cancel)
        tick(0)
        if entry.source == "user-file":
            verdicts.append(_verify_user_file(entry, tick))
        else:
            ok, message = assembly.verify_now(entry, data_dir, tick)
            verdicts.append(Verdict(entry.name, ok, message))
    return verdicts


def _ticker(stage: str, total: int, progress: Progress | None,
            cancel: threading.Event | None) -> Callable[[int], None]:
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(stage, done, total)
        if cancel is not None and cancel.is_set():
            raise Cancelled()

    return tick


def _verify_user_file(entry: ModelEntry, tick: Callable[[int], None]) -> Verdict:
    path = entry.path
    if path is None or not path.is_file():
        return Verdict(entry.name, False, f"{path} does not exist (a broken link?)")
    try:
        gguf.read_header(path)
    except gguf.GGUFError as exc:
        return Verdict(entry.name, False, str(exc))
    try:
        recorded = hash_sidecar(path).read_text(encoding="utf-8").split()[0].lower()
    except (OSError, IndexError):
        return Verdict(entry.name, True, "sound GGUF (no recorded sha256 to compare with)")
    hasher = hashlib.sha256()
    buf = bytearray(BUFFER)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            hasher.update(view[:n])
            tick(n)
    if hasher.hexdigest() != recorded:
        return Verdict(entry.name, False, f"damaged: sha256 {hasher.hexdigest()} differs from the "
                       f"{recorded} recorded when it was added; add or download it again")
    return Verdict(entry.name, True, "sha256 matches the one recorded when it was added")


__all__ = ["Added", "Cancelled", "Verdict", "add_models", "hash_sidecar", "removable", "remove_model",
           "verify_models"]
