"""The window's document indexing: one run at a time in the engine process, reported as Qt signals.

A run is one or more `IndexDocumentsRequest`s (the engine steps aside after a file when a question is
queued, ending with `remaining` > 0; the run then asks again, behind the question, so a question waits
at most one file). Sources to add and remove travel in the request (`add=`/`remove=`), never as a write
from the window, so the GUI thread never waits for the engine's write lock.

Pause and Cancel both stop the engine after the file it is reading (what was indexed stays): Pause
holds back every later run until Resume (which goes on where it stopped: finished files are
unchanged, so the engine skips them), while Cancel also takes back the sources this run added, so a
folder dropped by mistake leaves nothing behind. Adding or removing while a run is going on is queued and
sent as soon as it ends.

Changes on disk are picked up by re-scans: at start, shortly after a watched folder changes, and every
`RESCAN_INTERVAL_MS` (see `watcher`). A re-scan reads only new and changed files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from assistant.documents.errors import SourceRefused
from assistant.documents.sources import checked_source
from assistant.host.client import EngineClient, Ticket
from assistant.host.messages import (
    DocumentIndexed,
    DocumentsIndexSummary,
    Done,
    Event,
    Failed,
    IndexDocumentsRequest,
    Progress,
    result_of,
)
from assistant.settings import Settings

logger = logging.getLogger(__name__)

STEP_ASIDE_RETRY_MS = 500  # after the engine stepped aside for a question: ask again behind it


@dataclass
class RunReport:
    """What one run did, across the requests it took; `outcome` once it ended."""

    added: tuple[str, ...] = ()
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_added: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    remaining: int = 0
    library_chunks: int = 0
    vectors: bool = True
    note: str = ""
    outcome: str = ""  # "complete", "paused", "cancelled", "failed"
    error: str = ""

    def summary(self) -> str:
        """One paragraph for the panel: what happened, and what is left."""
        if self.outcome == "failed":
            return f"Indexing failed: {self.error}"
        parts = [f"{self.indexed} {'file' if self.indexed == 1 else 'files'} indexed"
                 f" ({self.chunks_added:,} passages)"]
        if self.unchanged:
            parts.append(f"{self.unchanged} unchanged")
        if self.removed:
            parts.append(f"{self.removed} removed")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        head = {"paused": "Paused: ", "cancelled": "Cancelled: "}.get(self.outcome, "")
        text = head + ", ".join(parts) + "."
        if self.outcome == "paused" and self.remaining:
            text += f" {self.remaining} files wait for Resume."
        if self.outcome == "cancelled" and self.added:
            text += " The folders and files added in this run were taken back."
        if not self.vectors:
            text += " Searching by keywords only" + (f" ({self.note})." if self.note else ".")
        return text


@dataclass(frozen=True)
class FileProgress:
    """Where the run is: files done of total, what the engine is doing ("Reading report.pdf"), and the
    file's own steps (pages) when the engine reports them."""

    done: int
    total: int
    message: str = ""
    file_done: int = 0
    file_total: int = 0


class DocumentIndexing(QObject):
    progressed = Signal(object)  # FileProgress
    file_reported = Signal(object)  # DocumentIndexed: a file indexed, skipped or removed
    state_changed = Signal()  # started, paused, resumed, ended: the panel's buttons follow
    finished = Signal(object)  # RunReport
    library_changed = Signal()  # sources or files changed: lists and watches refresh

    def __init__(self, client: EngineClient, data_dir: Path, settings: Callable[[], Settings],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.data_dir = Path(data_dir)
        self._settings = settings
        self.ticket: Ticket | None = None
        self.report: RunReport | None = None  # the run going on, or the last one
        self.last_progress: FileProgress | None = None
        self.paused = False
        self._queued_add: list[str] = []
        self._queued_remove: list[str] = []
        self._scan_queued = False
        self._stopping = ""  # "paused" or "cancelled" while the engine finishes its file
        self._taking_back = False  # a cancelled run's additions are being removed
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.setInterval(STEP_ASIDE_RETRY_MS)
        self._retry.timeout.connect(self._send_next)

    @property
    def running(self) -> bool:
        return self.ticket is not None

    # ---- what the user (or a watcher) asks for ------------------------------------------------------

    def add(self, paths: Sequence[str]) -> list[str]:
        """Add files and folders and index them; returns a message for each path refused."""
        refused = []
        for path in paths:
            try:
                resolved, _ = checked_source(path)
            except SourceRefused as error:
                refused.append(str(error))
                continue
            if resolved not in self._queued_add:
                self._queued_add.append(resolved)
        if self._queued_add:
            self.paused = False  # adding is asking for work: it resumes a paused library
            self._send_next()
        return refused

    def remove(self, path: str) -> None:
        """Forget a source with its passages and vectors (after the file being read, if a run is on)."""
        if path in self._queued_add:
            self._queued_add.remove(path)
            return
        self._queued_remove.append(path)
        if self.ticket is not None:
            self.ticket.drop()  # stops after the current file; the run goes on after the removal
            self._scan_queued = True
        else:
            self._send_next()

    def rescan(self) -> bool:
        """Compare every source with the disk now (start, a watched change, the timer)."""
        if self.paused:
            return False
        self._scan_queued = True
        self._send_next()
        return True

    def pause(self) -> None:
        if self.ticket is not None:
            self._stopping = "paused"
            self.ticket.drop()  # no kill deadline: a big file may take a while to finish (see `cancel`)
        self.paused = True
        self.state_changed.emit()

    def resume(self) -> None:
        self.paused = False
        self._scan_queued = True
        self.state_changed.emit()
        self._send_next()

    def cancel(self) -> None:
        """Stop, and take back what this run added; files indexed from other sources stay."""
        self._queued_add.clear()
        if self.ticket is None:
            return
        self._stopping = "cancelled"
        # Dropped, not cancelled: `cancel` kills an engine that does not confirm within two seconds,
        # which would take the loaded chat model with it and count the file being read as a crash.
        self.ticket.drop()

    # ---- requests ----------------------------------------------------------------------------------------

    def _send_next(self) -> None:
        if self.ticket is not None or (self.paused and not self._queued_remove):
            return
        add, remove = tuple(self._queued_add), tuple(self._queued_remove)
        scan = bool(add) or self._scan_queued or (self._continuing() and not self._taking_back)
        if not (add or remove or scan):
            return
        self._queued_add.clear()
        self._queued_remove.clear()
        self._scan_queued = False
        if self.report is None or self.report.outcome:
            self.report = RunReport(added=add)
        else:
            self.report.added += add
        settings = self._settings()
        request = IndexDocumentsRequest(str(self.data_dir), add=add, remove=remove,
                                        scan=scan and not self.paused, threads=settings.threads)
        try:
            self.ticket = self.client.send(request, self._on_event)
        except Exception as error:  # the engine could not be asked: say so, lose nothing
            logger.exception("Could not ask the engine to index documents")
            self._queued_add[:0], self._queued_remove[:0] = add, remove
            self._end("failed", f"The engine could not be asked to index: {error}")
            return
        self.state_changed.emit()

    def _continuing(self) -> bool:
        """The engine stepped aside for a question, with files left: go on."""
        return bool(self.report and not self.report.outcome and self.report.remaining)

    def _on_event(self, event: Event) -> None:
        """The index request's events (GUI thread, through the bridge)."""
        report = self.report
        assert report is not None
        if isinstance(event, Progress):
            self._progress(event)
        elif isinstance(event, DocumentIndexed):
            file = event.file
            if file.status == "indexed":
                report.indexed += 1
                report.chunks_added += file.chunks
            elif file.status == "skipped":
                report.skipped.append((file.path, file.reason))
            elif file.status == "removed":
                report.removed += 1
            last = self.last_progress
            self.last_progress = FileProgress(file.done, file.total, last.message if last else "")
            self.progressed.emit(self.last_progress)
            self.file_reported.emit(event)
        elif isinstance(event, Failed):
            self.ticket = None
            self._end("failed", event.message)
        elif isinstance(event, Done):
            summary = result_of(event, DocumentsIndexSummary)
            if summary is not None:
                report.unchanged += summary.unchanged
                report.remaining = summary.remaining
                report.library_chunks = summary.chunks
                report.vectors, report.note = summary.vectors, summary.note
            self.ticket = None
            self._done(event)

    def _progress(self, event: Progress) -> None:
        last = self.last_progress or FileProgress(0, 0)
        if event.stage == "documents":  # files done of total; a new file's own steps start afresh
            self.last_progress = FileProgress(event.done, event.total, event.message or last.message)
        else:  # steps inside one file (pages), or the embedding model being prepared
            self.last_progress = FileProgress(last.done, last.total, event.message or last.message,
                                              event.done, event.total)
        self.progressed.emit(self.last_progress)

    def _done(self, event: Done) -> None:
        report = self.report
        assert report is not None
        stopping, self._stopping = self._stopping, ""
        if stopping == "cancelled":
            if report.added:  # take back what this run added (its files' passages and vectors too)
                self._taking_back = True
                self._queued_remove.extend(report.added)
                self._send_next()
                return
            self._end("cancelled")
            return
        if self._taking_back:
            self._taking_back = False
            self._end("cancelled")
            return
        if stopping == "paused" or self.paused:
            self._end("paused")
            return
        self.library_changed.emit()
        if self._queued_add or self._queued_remove or self._scan_queued:
            self._send_next()  # asked for while this request ran: one more request in the same run
            return
        if report.remaining and event.status == "complete":
            self._retry.start()  # stepped aside for a question; behind it, go on
            return
        self._end("complete")

    def _end(self, outcome: str, error: str = "") -> None:
        report = self.report or RunReport()
        self.report = report
        if not report.outcome:
            report.outcome, report.error = outcome, error
            logger.info("Documents indexing %s: %s", outcome, report.summary())
            self.finished.emit(report)
        self.library_changed.emit()
        self.state_changed.emit()
        if outcome != "paused" and (self._queued_add or self._queued_remove):
            self._send_next()
