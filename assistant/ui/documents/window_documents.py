"""The documents in the window: the Documents panel, the "Use my documents" toggle, background indexing.

One `DocumentIndexing` per window runs the engine's indexing; the panel (View ▸ Documents…) shows it and
is built when first opened. When the engine starts, a re-scan picks up what changed while the app was
closed, and `DocumentWatcher` asks for one whenever a watched folder changes and every few minutes. A
run the panel does not show reports to the status bar in one line ("Documents: 3 files indexed, 1
skipped"), so a long first indexing is visible without the panel open.

The toggle sits beside the composer's buttons and is saved in Settings (`use_documents`): while it is
on, every question is answered from the documents (`AttachmentQuestions` runs the grounding job with
the library search), and the answer lists its sources.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QCheckBox

from assistant.documents import library
from assistant.documents.errors import DocumentsError
from assistant.settings import Settings
from assistant.ui.documents.indexing import DocumentIndexing, RunReport
from assistant.ui.documents.watcher import DocumentWatcher

if TYPE_CHECKING:
    from assistant.ui.chat.controller import ChatController
    from assistant.ui.documents.documents_panel import DocumentsPanel

logger = logging.getLogger(__name__)

TOGGLE_TEXT = "Use my documents"
TOGGLE_TIP = ("Answer from your documents (View ▸ Documents…), citing the file and page; when they do "
              "not cover a question, the answer says so")


class WindowDocuments(QObject):
    def __init__(self, controller: ChatController, data_dir: Path,
                 apply_settings: Callable[[Settings], None]) -> None:
        super().__init__(controller)
        self.controller = controller
        self.window = controller.window
        self.data_dir = Path(data_dir)
        self._apply_settings = apply_settings
        session = controller.session
        self.indexing = DocumentIndexing(controller.client, self.data_dir, lambda: session.settings, self)
        self.watcher = DocumentWatcher(self.data_dir, self.indexing.rescan, self)
        self.panel: DocumentsPanel | None = None
        self.toggle = QCheckBox(TOGGLE_TEXT)
        self.toggle.setObjectName("useDocuments")
        self.toggle.setToolTip(TOGGLE_TIP)
        self.toggle.setChecked(controller.session.settings.use_documents)
        self.toggle.toggled.connect(self._toggled)
        self.window.composer.add_tool(self.toggle)
        self.indexing.finished.connect(self._finished)
        self.indexing.library_changed.connect(self.watcher.refresh)
        self.window.documents_action.triggered.connect(self.open_panel)

    def engine_started(self) -> None:
        """Pick up what changed while the app was closed, then keep watching."""
        if self._has_sources():
            self.indexing.rescan()
        self.watcher.start()

    def open_panel(self) -> DocumentsPanel:
        from assistant.ui.documents.documents_panel import DocumentsPanel  # deferred: built when opened

        if self.panel is None:
            self.panel = DocumentsPanel(self.indexing, self.window)
        self.panel.refresh()
        self.panel.show()
        self.panel.raise_()
        self.panel.activateWindow()
        return self.panel

    def sync(self) -> None:
        """Settings changed elsewhere (the Settings dialog): the toggle follows."""
        wanted = self.controller.session.settings.use_documents
        if self.toggle.isChecked() != wanted:
            self.toggle.blockSignals(True)
            self.toggle.setChecked(wanted)
            self.toggle.blockSignals(False)

    def shutdown(self) -> None:
        self.watcher.stop()

    def _toggled(self, checked: bool) -> None:
        settings = self.controller.session.settings
        if settings.use_documents != checked:
            self._apply_settings(dataclasses.replace(settings, use_documents=checked))
        if checked and not self._has_sources():
            self.window.status.show_info("You have no documents yet: add some in View ▸ Documents…")

    def _has_sources(self) -> bool:
        try:
            return bool(library.list_sources(self.data_dir))
        except DocumentsError as error:
            logger.warning("Documents library unavailable: %s", error)
            return False

    def _finished(self, report: RunReport) -> None:
        if self.panel is not None and self.panel.isVisible():
            return  # the panel shows the summary itself
        if report.outcome == "failed":
            self.window.status.show_error(f"Documents: {report.error}")
        elif report.indexed or report.removed or report.skipped:
            self.window.status.show_info(f"Documents: {report.summary()}")
