"""Download a model chosen from a hub listing: every shard, its projector, each one verified.

The listing (``HubClient.files``) says what a download will be before any byte is fetched: each part's
size and LFS sha256, and, in a vision repository, the projector that belongs to the model. So

- the whole download (model parts and projector) is refused before connecting when it does not fit
  on the disk, the repository is gated, or a split model misses a part on the hub;
- each file goes through ``assistant.models.download`` (resume, cancel, sha256 while writing) with the
  listed size and sha256 as the expectation: a server offering another size, or bytes hashing to
  anything else, is refused and the part deleted;
- a file already in the models folder with the same sha256 (its sidecar) is not fetched again: a
  projector shared by several quantizations, or the parts finished before a cancel;
- afterwards ``vision_pairing`` checks that the model and its projector really pair, and says so.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from assistant.models.download import SPACE_MARGIN, HubFile, Progress, download, partial_path
from assistant.models.download_http import DownloadError
from assistant.models.hub_client import RepoListing
from assistant.models.hub_files import LogicalFile, RemoteFile, find_file, projector_for, projector_save_name


@dataclass(frozen=True)
class Item:
    """One file to fetch and the name it gets in the models folder."""

    remote: RemoteFile
    save_as: str
    role: str  # "model", "part 2 of 3", "projector"


@dataclass(frozen=True)
class DownloadPlan:
    repo_id: str
    revision: str
    model: LogicalFile
    projector: LogicalFile | None

    def items(self) -> list[Item]:
        count = len(self.model.parts)
        items = [Item(p, p.name, "model" if count == 1 else f"part {i} of {count}")
                 for i, p in enumerate(self.model.parts, 1)]
        if self.projector is not None:
            items.append(Item(self.projector.parts[0], projector_save_name(self.model, self.projector),
                              "projector"))
        return items

    @property
    def size(self) -> int:
        return sum(item.remote.size for item in self.items())


@dataclass
class Fetched:
    model: Path  # the file to load (a split model's first part)
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan(listing: RepoListing, filename: str) -> DownloadPlan:
    """What downloading ``filename`` (any part's path or name) from ``listing`` fetches; DownloadError
    when it cannot be downloaded."""
    where = f"{listing.repo_id}"
    chosen = find_file(listing.files, filename)
    if chosen is None:
        other = next((f for f in listing.others if f.path == filename.strip()), None)
        if other is not None:  # not a model (an ONNX file, a config): fetched alone, still verified
            chosen = LogicalFile((other,), None, False)
        elif not listing.files:
            raise DownloadError(f"{where} has no GGUF files (it holds {len(listing.others)} other files); "
                                "look for a repository whose name ends in -GGUF")
        else:
            names = ", ".join(f.name for f in listing.models[:8])
            raise DownloadError(f"{where} has no file {filename!r}; its GGUF models: {names}")
    if not chosen.complete:
        raise DownloadError(f"{chosen.title}: the hub has only {len(chosen.parts)} of its "
                            f"{chosen.shard_count} parts, so it cannot be loaded")
    if listing.gated:
        raise DownloadError(f"{where} is gated: its files need an accepted licence and a token, which "
                            "this app does not use; choose another repository")
    return DownloadPlan(listing.repo_id, listing.revision, chosen, projector_for(chosen, listing.files))


def check_space(items: list[Item], models_dir: Path) -> None:
    """Refuses before any byte is fetched when the files (less what partial downloads already hold)
    do not fit on the disk with 16 MB to spare."""
    if not items:
        return
    need = sum(max(item.remote.size - _partial_bytes(models_dir, item.save_as), 0) for item in items)
    folder = models_dir
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free < need + SPACE_MARGIN:
        what = " with its projector" if any(i.role == "projector" for i in items) else ""
        raise DownloadError(f"not enough disk space: {items[0].remote.name}{what} needs {need / 1e6:,.0f} MB "
                            f"in {models_dir}, only {free / 1e6:,.0f} MB are free. Nothing was downloaded")


def fetch(download_plan: DownloadPlan, models_dir: Path, *, endpoint: str = "",
          progress: Progress | None = None, cancel: threading.Event | None = None) -> Fetched:
    """Downloads every file of the plan into ``models_dir``; DownloadError (or DownloadCancelled) as
    ``download`` raises them, with what was finished kept."""
    items = download_plan.items()
    todo = [item for item in items if not _already_there(models_dir, item)]
    check_space(todo, models_dir)
    total = sum(item.remote.size for item in todo)
    report = progress or (lambda _s, _d, _t: None)
    offset = 0
    paths: list[Path] = []
    notes: list[str] = []
    for item in items:
        if item not in todo:
            paths.append(models_dir / item.save_as)
            notes.append(f"{item.save_as} (the {item.role}) was already in the models folder")
            continue
        stage = f"Downloading {item.save_as}" + (f" ({item.role})" if item.role != "model" else "")
        hub_file = HubFile(download_plan.repo_id, item.remote.path, download_plan.revision,
                           sha256=item.remote.sha256, size=item.remote.size, save_as=item.save_as)
        paths.append(download(hub_file, models_dir, endpoint=endpoint, cancel=cancel,
                              progress=_shifted(report, stage, offset, total)))
        offset += item.remote.size
    fetched = Fetched(paths[0], paths, notes)
    if download_plan.projector is not None:
        fetched.notes.append(_pairing_note(paths[0], models_dir))
    return fetched


def _shifted(report: Progress, stage: str, offset: int, total: int) -> Progress:
    """One progress bar over all files: each file's bytes counted after the ones before it."""
    return lambda _stage, done, _total: report(stage, offset + done, total)


def _already_there(models_dir: Path, item: Item) -> bool:
    """A file downloaded before with the same sha256 (its sidecar says so) is not fetched again: a
    projector shared by several quantizations, or the parts finished before a cancel. Any other file
    of that name is for ``download`` to refuse."""
    if item.remote.sha256 is None:
        return False
    sidecar = models_dir / f"{item.save_as}.sha256"
    try:
        recorded = sidecar.read_text(encoding="utf-8").split()[0]
    except (OSError, IndexError):
        return False
    return (models_dir / item.save_as).is_file() and recorded == item.remote.sha256


def _partial_bytes(models_dir: Path, name: str) -> int:
    try:
        return partial_path(models_dir, name).stat().st_size
    except OSError:
        return 0


def _pairing_note(model: Path, models_dir: Path) -> str:
    from assistant.models.vision_pairing import VisionPair, find_vision_pair

    found = find_vision_pair(model, models_dir)
    if isinstance(found, VisionPair):
        return f"{model.name} can see images: paired with {found.mmproj.name}"
    return f"{model.name} was downloaded, but answers text only: {found.reason}"

__all__ = ["DownloadPlan", "Fetched", "Item", "check_space", "fetch", "plan"]
