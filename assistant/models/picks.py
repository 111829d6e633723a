"""One click for a curated pick (``source = "hub"`` in the catalogue): download, check, put in place.

Runs only when the user asks (`assistant models install NAME`, Models ▸ Recommended ▸ Get). Each file
goes through `assistant.models.download` (resume, cancel, progress, sha256 while writing, the hub's own
sha256 when the catalogue has none) into ``<models>/.picks/<name>/``; the disk space for the whole pick
is checked before anything connects. When every file is there, the pick is checked as a whole (a CLIP
folder is read as a model, a vision model's projector must fit its model), and only then moved into
place: a one-file chat model (and its projector, first) into ``<models>/``, a CLIP folder to
``<models>/clip/<name>/``, a Whisper folder to ``<models>/whisper/<name>/`` with one rename. Nothing
half-downloaded is ever listed as a model; an interrupted install keeps its parts and the same command
resumes it.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from assistant.models.assembly import fsync_dir
from assistant.models.catalog import (
    READY,
    ModelEntry,
    ModelError,
    find_model,
    load_catalog,
    pick_location,
    user_models_dir,
)
from assistant.models.download import PARTIAL_DIR, HubFile, download
from assistant.models.download_http import DownloadError
from assistant.models.pick_files import staging_dir, status

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
SPACE_MARGIN = 64 << 20  # beyond the pick itself: the part files' metadata, the sidecars, the FS


def offered(entries: Sequence[ModelEntry] | None = None) -> list[ModelEntry]:
    """The picks a user is offered: hub entries, never one tagged "test"."""
    entries = load_catalog() if entries is None else entries
    return [e for e in entries if e.source == "hub" and "test" not in e.tags]


def find_pick(name: str, data_dir: Path) -> ModelEntry:
    entry = next((e for e in load_catalog() if e.source == "hub" and e.name == name), None)
    if entry is None:
        names = ", ".join(e.name for e in offered()) or "none"
        try:
            known = find_model(name, data_dir)
        except ModelError:
            raise ModelError(f"no recommended model is called {name!r}; they are: {names}") from None
        raise ModelError(f"{known.name} is not a download (it is {known.source}); the downloads are: {names}")
    return entry


def install(entry: ModelEntry, data_dir: Path, *, endpoint: str = "", progress: Progress | None = None,
            cancel: threading.Event | None = None) -> Path:
    """Downloads and installs ``entry``; returns the installed file or folder. Already installed: returns
    at once. Raises DownloadError (``resumable`` when the same call can continue; DownloadCancelled on
    ``cancel``) or ModelError (the files arrived but do not make a usable model; they are removed)."""
    if entry.source != "hub" or not entry.repo:
        raise ModelError(f"{entry.name} is not a download")
    if status(entry, data_dir)[0] == READY:
        return pick_location(entry, data_dir)
    staging = staging_dir(entry, data_dir)
    specs = entry.file_specs()
    _check_space(entry, data_dir, staging)
    done_bytes = 0
    for index, spec in enumerate(specs, 1):
        target = staging / spec.target
        stage = f"Downloading {entry.name} ({index}/{len(specs)}: {spec.target})"
        if not target.is_file():
            wanted = HubFile(entry.repo, spec.remote or spec.target, entry.revision, spec.sha256, spec.size)
            _fetch(wanted, target, stage, done_bytes, entry.size or 0, endpoint, progress, cancel)
        if spec.size is not None and target.stat().st_size != spec.size:
            _discard(target)
            raise DownloadError(f"{spec.target} of {entry.name} has {target.stat().st_size:,} bytes, the "
                                f"catalogue says {spec.size:,}: the hub sent another file; it was removed")
        done_bytes += target.stat().st_size
    _check_contents(entry, staging)
    return _place(entry, staging, data_dir)


def _fetch(wanted: HubFile, target: Path, stage: str, before: int, whole: int, endpoint: str,
           progress: Progress | None, cancel: threading.Event | None) -> None:
    """One file into the staging folder (resuming its part), renamed to its target name there."""
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)

    def report(_stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, before + done, max(whole, before + total))

    arrived = folder / PurePosixPath(wanted.filename).name
    if not arrived.is_file():
        download(wanted, folder, endpoint=endpoint, progress=report, cancel=cancel)
    if arrived != target:  # e.g. a generic mmproj-model-f16.gguf saved under its model's name
        os.replace(arrived, target)
        sidecar = arrived.with_name(arrived.name + ".sha256")
        if sidecar.is_file():
            os.replace(sidecar, target.with_name(target.name + ".sha256"))


def _check_space(entry: ModelEntry, data_dir: Path, staging: Path) -> None:
    """Before any connection: the whole pick must fit, less what an earlier attempt left."""
    if not entry.size:
        return
    models = user_models_dir(data_dir)
    probe = models if models.is_dir() else data_dir if data_dir.is_dir() else data_dir.parent
    have = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file()) if staging.is_dir() else 0
    need = max(0, entry.size - have)
    free = shutil.disk_usage(probe).free
    if free < need + SPACE_MARGIN:
        raise DownloadError(f"not enough disk space for {entry.name}: it needs about {need / 1e6:,.0f} MB "
                            f"more in {models}, only {free / 1e6:,.0f} MB are free; nothing was "
                            "downloaded", resumable=have > 0)


def _check_contents(entry: ModelEntry, staging: Path) -> None:
    """The downloaded files as a model, before anything is moved where the app looks."""
    problem: str | None = None
    if entry.role == "clip":
        from assistant.clip.folder import read_config

        try:
            read_config(staging)
        except ModelError as error:
            problem = str(error)
    elif entry.projector is not None:
        from assistant.models.vision_pairing import Unpaired, find_vision_pair

        pair = find_vision_pair(staging / entry.filename, mmproj=staging / entry.projector.target)
        if isinstance(pair, Unpaired):
            problem = pair.reason
    if problem:
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelError(f"the files of {entry.name} arrived but do not make a usable model ({problem}); "
                         "they were removed")


def _place(entry: ModelEntry, staging: Path, data_dir: Path) -> Path:
    home = pick_location(entry, data_dir)
    for partial in sorted(staging.rglob(PARTIAL_DIR), reverse=True):  # empty after each download
        shutil.rmtree(partial, ignore_errors=True)
    home.parent.mkdir(parents=True, exist_ok=True)
    if entry.is_folder:
        old = None
        if home.exists():  # a damaged earlier install: swap, then delete, so a folder is always whole
            old = staging.with_name(f"{entry.name}.replaced-{time.time_ns()}")
            os.replace(home, old)
        os.replace(staging, home)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    else:
        # The projector first: the model must never be listed without it.
        for spec in reversed(entry.file_specs()):
            for name in (spec.target, f"{spec.target}.sha256"):
                if (staging / name).is_file():
                    os.replace(staging / name, home.parent / name)
        shutil.rmtree(staging, ignore_errors=True)
    fsync_dir(home.parent)
    log.info("installed %s into %s", entry.name, home)
    return home


def _discard(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".sha256")):
        p.unlink(missing_ok=True)


__all__ = ["DownloadError", "find_pick", "install", "offered"]
