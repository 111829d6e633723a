"""Noticing changes to the user's documents while the window runs: a watch on their folders, and a timer.

Why both. `QFileSystemWatcher` (inotify on Linux) tells within a second that a folder's entries changed
(a file saved, added, renamed or deleted in it), but it watches single folders, not trees, each watch
costs a kernel handle (inotify allows 8,192 per user on many systems, shared with every other app),
and it says nothing for network and removable disks. So the window watches the source folders and the
folders that hold indexed files (read from the library, never by walking the disk on the GUI thread) up
to `MAX_WATCHED`, and asks for a re-scan `DEBOUNCE_MS` after the last change (an editor's save is
several events); a new sub-folder shows up as a change of its parent, and is watched after the next
scan. Every `RESCAN_INTERVAL_MS` a re-scan runs anyway: it catches what the watches cannot see, and it
costs one `os.stat` per file in the engine process (unchanged files are never read again). The first
re-scan runs when the engine starts, for what changed while the app was closed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer

from assistant.documents import library
from assistant.documents.errors import DocumentsError

logger = logging.getLogger(__name__)

MAX_WATCHED = 1000
DEBOUNCE_MS = 2000
RESCAN_INTERVAL_MS = 10 * 60 * 1000


def watched_paths(data_dir: Path, limit: int = MAX_WATCHED) -> list[str]:
    """The source folders first, then the folders holding indexed files; file sources themselves."""
    try:
        sources = library.list_sources(data_dir)
        files = library.list_files(data_dir) if sources else []
    except DocumentsError as error:
        logger.warning("Documents not watched: %s", error)
        return []
    paths: dict[str, None] = {}
    for source in sources:
        paths[source.path] = None
    for file in files:
        paths[os.path.dirname(file.path)] = None
    existing = [p for p in paths if os.path.exists(p)]
    return existing[:limit]


class DocumentWatcher(QObject):
    """Calls `rescan` soon after a watched folder changes, and every RESCAN_INTERVAL_MS."""

    def __init__(self, data_dir: Path, rescan: Callable[[], object], parent: QObject | None = None,
                 *, debounce_ms: int = DEBOUNCE_MS, interval_ms: int = RESCAN_INTERVAL_MS) -> None:
        super().__init__(parent)
        self.data_dir = Path(data_dir)
        self._rescan = rescan
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._changed)
        self.watcher.fileChanged.connect(self._changed)
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(debounce_ms)
        self.debounce.timeout.connect(self._fire)
        self.periodic = QTimer(self)
        self.periodic.setInterval(interval_ms)
        self.periodic.timeout.connect(self._fire)
        self.changes_seen = 0

    def start(self) -> None:
        self.refresh()
        self.periodic.start()

    def stop(self) -> None:
        self.periodic.stop()
        self.debounce.stop()

    def refresh(self) -> None:
        """Watch what the library holds now (after a run added or removed sources and files)."""
        wanted = set(watched_paths(self.data_dir))
        current = set(self.watcher.directories()) | set(self.watcher.files())
        gone, new = sorted(current - wanted), sorted(wanted - current)
        if gone:
            self.watcher.removePaths(gone)
        if new:
            failed = self.watcher.addPaths(new)  # some may be refused (the kernel's watch limit)
            if failed:
                logger.info("%d document folders are not watched; the periodic re-scan covers them",
                            len(failed))

    def watched(self) -> list[str]:
        return sorted(set(self.watcher.directories()) | set(self.watcher.files()))

    def _changed(self, path: str) -> None:
        self.changes_seen += 1
        logger.debug("Documents changed under %s", path)
        self.debounce.start()  # restarted by each event: one re-scan after a burst

    def _fire(self) -> None:
        self.debounce.stop()
        self._rescan()
