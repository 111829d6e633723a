"""The window's background indexing of images shared before a CLIP model was installed.

When the engine starts (and when the search panel opens) and a CLIP model is installed, the window asks
the engine process to embed the library's unindexed images (`assistant.host.indexing`). The engine
writes the vectors into the library itself; the search panel's next scan sees them. The window never
opens the library for this: it sends the request only when a library file exists, and the engine finds
out whether anything is left to do.

The engine steps aside after a batch when a question is queued (Done with ``remaining`` > 0); the
request is then sent again, behind that question. Progress is a temporary status-bar message, so it
never replaces "Thinking…" or an error for good; a missing or broken CLIP model is one error line,
and nothing is lost: the images stay unindexed until the model is fixed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.clip.folder import installed_models
from assistant.host.client import Ticket
from assistant.host.messages import Done, Event, Failed, IndexImagesRequest, Progress

if TYPE_CHECKING:
    from assistant.ui.chat.controller import ChatController

logger = logging.getLogger(__name__)

DONE_MESSAGE_MS = 5000


def library_file(data_dir: Path) -> Path:
    return Path(data_dir) / "image_library" / "library.sqlite3"


class BackgroundIndexing:
    """One index request at a time for a window."""

    def __init__(self, controller: ChatController, data_dir: Path) -> None:
        self.controller = controller
        self.data_dir = Path(data_dir)
        self.ticket: Ticket | None = None  # the index request in flight
        self.indexed = 0  # images indexed by the current run (its requests, if it stepped aside)
        self.last_error: str | None = None
        self.finished: list[Callable[[int], None]] = []  # called with `indexed` when a run completes

    def start(self) -> bool:
        """Asks the engine to index, unless a request is in flight or there is nothing to index with."""
        if self.ticket is not None:
            return False
        if not installed_models(self.data_dir) or not library_file(self.data_dir).is_file():
            return False
        self.indexed = 0
        return self._send()

    def _send(self) -> bool:
        try:
            self.ticket = self.controller.client.send(IndexImagesRequest(str(self.data_dir)), self._on_event)
        except Exception:  # the engine could not be asked: the images stay unindexed until next time
            logger.exception("Could not ask the engine to index images")
            return False
        return True

    def _on_event(self, event: Event) -> None:
        """The index request's handler (GUI thread)."""
        status = self.controller.window.status
        if isinstance(event, Progress):
            if event.total and event.done < event.total:
                status.showMessage(event.message)  # temporary: the normal message shows again after
        elif isinstance(event, Done):
            self.ticket = None
            self._done(event)
        elif isinstance(event, Failed):
            self.ticket = None
            status.clearMessage()
            if event.kind != "crashed":  # a crash is reported by whatever else was running
                self.last_error = event.message
                status.show_error(f"Images could not be indexed for search: {event.message}")

    def _done(self, event: Done) -> None:
        status = self.controller.window.status
        extra = event.stats.extra
        indexed, remaining = int(extra.get("indexed", 0)), int(extra.get("remaining", 0))
        self.indexed += indexed
        # Stepped aside for a question: asked again, queued behind it now.
        if event.status == "complete" and remaining > 0 and self._send():
            return
        status.clearMessage()
        if self.indexed and event.status == "complete":
            status.showMessage(f"{self.indexed} shared images indexed for search.", DONE_MESSAGE_MS)
        for callback in list(self.finished):
            callback(self.indexed)
