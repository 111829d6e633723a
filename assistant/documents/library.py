"""The documents library for the window and the command line: list, add and remove sources.

These functions only touch the library's SQLite file and `os.stat`: no document is opened or parsed
here, so they are safe in the window process. Reading files (indexing) happens in the engine process:
send `host.messages.IndexDocumentsRequest` (with `add=` to add and index at once); searching too
(`SearchDocumentsRequest`), since it needs the embedding model.

`add_source` only records a source (it shows in the list at once, with no files yet); the next
IndexDocumentsRequest reads it. `remove_source` erases the source's passages and vectors from the
database and its WAL right away; while the engine indexes, prefer `IndexDocumentsRequest(remove=...)`,
which waits for no lock.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from assistant.documents.errors import SourceRefused
from assistant.documents.sources import checked_source
from assistant.documents.store import DocumentStore, library_path
from assistant.documents.types import FileInfo, SourceInfo


def list_sources(data_dir: Path) -> list[SourceInfo]:
    """Every source with its file, passage and skipped counts; [] when there is no library yet."""
    if not library_path(data_dir).exists():
        return []
    with DocumentStore.open(data_dir) as store:
        return store.sources()


def list_files(data_dir: Path, source: str | None = None) -> list[FileInfo]:
    """The files under `source` (a path as listed), or all; skipped ones carry their reason."""
    if not library_path(data_dir).exists():
        return []
    with DocumentStore.open(data_dir) as store:
        if source is None:
            return store.files()
        found = find_source(store, source)
        return store.files(found.source_id) if found else []


def add_source(data_dir: Path, path: str | Path) -> SourceInfo:
    """Records a file or folder as a source (not read yet); returns it. Adding one again returns it as
    it is; a folder that holds earlier sources takes them over. SourceRefused says why not."""
    with DocumentStore.open(data_dir) as store:
        return add_to(store, path)


def remove_source(data_dir: Path, source: str | Path) -> bool:
    """Removes a source (a path as listed, or the path the user gave) with all its passages and
    vectors, leaving no trace in the database or its WAL. False when it was not a source."""
    if not library_path(data_dir).exists():
        return False
    with DocumentStore.open(data_dir) as store:
        return remove_from(store, source)


def find_source(store: DocumentStore, path: str | Path) -> SourceInfo | None:
    wanted = {str(path), str(Path(path).expanduser().absolute())}
    with contextlib.suppress(OSError):
        wanted.add(str(Path(path).expanduser().resolve()))
    return next((s for s in store.sources() if s.path in wanted), None)


def add_to(store: DocumentStore, path: str | Path) -> SourceInfo:
    resolved, is_folder = checked_source(path)
    sources = store.sources()
    for existing in sources:
        if existing.path == resolved:
            return existing
        if existing.is_folder and Path(resolved).is_relative_to(existing.path):
            raise SourceRefused(f"{resolved} is already in the library, inside {existing.path}.")
    inside = [s.source_id for s in sources if is_folder and Path(s.path).is_relative_to(resolved)]
    source_id = store.insert_source(resolved, is_folder, absorb=inside)
    return next(s for s in store.sources() if s.source_id == source_id)


def remove_from(store: DocumentStore, source: str | Path) -> bool:
    found = find_source(store, source)
    return store.delete_source(found.source_id) if found else False
