"""The hub browser's work off the GUI thread: searches, file listings and one download at a time.

Each call runs on a thread of its own and reports through Qt signals, which Qt queues to the dialog
on the GUI thread. Queries carry a ticket: when the user searches again (or opens another repository)
before an answer arrives, the older answer is dropped, so the lists always show the newest question.
Byte counts travel as Python objects, not Qt ints: a model file is often larger than 2 GB.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from assistant.models.hub_download import DownloadPlan, fetch
from assistant.models.hub_http import HubError

log = logging.getLogger(__name__)


class HubWorker(QObject):
    answered = Signal(str, object)  # kind ("search" or "files"), result: only the newest of each kind
    failed = Signal(str, str, bool)  # kind, message, offline (nothing was reached)
    progressed = Signal(str, object, object)  # stage, bytes done, bytes in all (0: unknown)
    fetched = Signal(object)  # hub_download.Fetched
    fetch_failed = Signal(str, bool)  # message, resumable (the part was kept)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tickets: dict[str, int] = {}
        self._lock = threading.Lock()
        self._download: threading.Thread | None = None
        self.cancel_event = threading.Event()

    def ask(self, kind: str, job: Callable[[], Any]) -> None:
        """Runs ``job`` (a hub query) on a worker thread; its answer replaces any older one of ``kind``."""
        with self._lock:
            ticket = self._tickets.get(kind, 0) + 1
            self._tickets[kind] = ticket

        def work() -> None:  # worker thread: reports only through signals
            try:
                result = job()
            except HubError as error:
                message, offline = str(error), error.offline
                self._report(kind, ticket, lambda: self.failed.emit(kind, message, offline))
                return
            except Exception as error:  # a bug must not leave the dialog waiting for ever
                log.exception("hub %s failed", kind)
                message = str(error) or type(error).__name__
                self._report(kind, ticket, lambda: self.failed.emit(kind, message, False))
                return
            self._report(kind, ticket, lambda: self.answered.emit(kind, result))

        threading.Thread(target=work, name=f"hub-{kind}", daemon=True).start()

    def _report(self, kind: str, ticket: int, emit: Callable[[], None]) -> None:
        with self._lock:
            newest = self._tickets.get(kind) == ticket
        if newest:
            emit()

    def download(self, plan: DownloadPlan, models_dir: Path, endpoint: str) -> bool:
        """Starts the download; False when one is already running."""
        if self.downloading():
            return False
        self.cancel_event.clear()

        def work() -> None:  # worker thread
            try:
                result = fetch(plan, models_dir, endpoint=endpoint, cancel=self.cancel_event,
                               progress=lambda stage, done, total: self.progressed.emit(stage, done, total))
            except Exception as error:  # DownloadError and the unexpected alike become a message
                log.info("hub download: %s", error)
                self.fetch_failed.emit(str(error), bool(getattr(error, "resumable", False)))
                return
            self.fetched.emit(result)

        self._download = threading.Thread(target=work, name="hub-download", daemon=True)
        self._download.start()
        return True

    def downloading(self) -> bool:
        return self._download is not None and self._download.is_alive()

    def cancel(self) -> None:
        self.cancel_event.set()  # the download sees it between reads and keeps its part

    def join(self, timeout: float = 5.0) -> None:
        if self._download is not None:
            self._download.join(timeout)
