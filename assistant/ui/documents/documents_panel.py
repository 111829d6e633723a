"""The Documents panel (View ▸ Documents…): what the user's documents are, and their indexing as it runs.

Sources (files and folders) are listed with their files, passages, problems and when they were last
checked; a source's skipped files are its children, each with the reason. Files and folders come in
through Add files…, Add folder… or a drop on the panel, and are indexed in the engine process
(`DocumentIndexing`): the file being read, files done of the total (and the file's own pages when the
engine reports them), Pause and Cancel, then a summary with everything skipped and why. The list is
read from the library's SQLite file (milliseconds, never a document); during a run it is re-read at most
every `REFRESH_MS`, not once per file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from assistant.documents import library
from assistant.documents.errors import DocumentsError
from assistant.documents.formats import supported_extensions
from assistant.documents.types import FileInfo, SourceInfo
from assistant.host.messages import DocumentIndexed
from assistant.ui.documents.indexing import DocumentIndexing, FileProgress, RunReport

logger = logging.getLogger(__name__)

REFRESH_MS = 500
INTRO = ("Add files or folders (PDF, Word, Markdown, text, web pages, code). They are read on this "
         "computer; with “Use my documents” on, answers quote them and name the file and page.")
EMPTY = "No documents yet: add files or folders, or drop them here."
COLUMNS = ("Source", "Files", "Passages", "Problems", "Last checked")


def pick_files(parent: QWidget) -> list[str]:
    patterns = " ".join(f"*{ext}" for ext in supported_extensions())
    paths, _ = QFileDialog.getOpenFileNames(parent, "Add documents", str(Path.home()),
                                            f"Documents ({patterns});;All files (*)")
    return paths


def pick_folder(parent: QWidget) -> list[str]:
    folder = QFileDialog.getExistingDirectory(parent, "Add a folder of documents", str(Path.home()))
    return [folder] if folder else []


def confirm_removal(parent: QWidget, source: SourceInfo) -> bool:
    answer = QMessageBox.question(
        parent, "Remove from your documents",
        f"Forget {source.path}? Its {source.chunks:,} passages are deleted from the library (your files "
        "stay where they are).")
    return answer == QMessageBox.StandardButton.Yes


class DocumentsPanel(QDialog):
    def __init__(self, indexing: DocumentIndexing, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Documents")
        self.resize(820, 600)
        self.setAcceptDrops(True)
        self.indexing = indexing
        self.data_dir = indexing.data_dir
        self.sources: list[SourceInfo] = []
        # Replaced in tests: real dialogs would block an offscreen run.
        self.file_picker: Callable[[QWidget], list[str]] = pick_files
        self.folder_picker: Callable[[QWidget], list[str]] = pick_folder
        self.confirm: Callable[[QWidget, SourceInfo], bool] = confirm_removal

        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a long path keeps its folder's name
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.empty = QLabel(EMPTY)
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.add_files_button = QPushButton("Add files…")
        self.add_folder_button = QPushButton("Add folder…")
        self.remove_button = QPushButton("Remove")
        self.rescan_button = QPushButton("Check for changes")
        self.rescan_button.setToolTip("Read files added or changed since the last check; forget deleted ones")
        self.add_files_button.clicked.connect(lambda: self.add_paths(self.file_picker(self)))
        self.add_folder_button.clicked.connect(lambda: self.add_paths(self.folder_picker(self)))
        self.remove_button.clicked.connect(self.remove_selected)
        self.rescan_button.clicked.connect(self._rescan)

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.files_bar = QProgressBar()
        self.files_bar.setFormat("%v of %m files")
        self.file_bar = QProgressBar()
        self.file_bar.setFormat("%v of %m pages")
        self.pause_button = QPushButton("Pause")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop, and take back the files and folders this run added")
        self.pause_button.clicked.connect(self._pause_or_resume)
        self.cancel_button.clicked.connect(self.indexing.cancel)
        self.summary = QLabel()
        self.summary.setObjectName("documentsSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.skipped = QListWidget()
        self.skipped.setMaximumHeight(110)
        self.skipped.hide()
        self.error = QLabel()
        self.error.setObjectName("bubbleError")
        self.error.setWordWrap(True)
        self.error.hide()

        buttons = QHBoxLayout()
        buttons.addWidget(self.add_files_button)
        buttons.addWidget(self.add_folder_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        buttons.addWidget(self.rescan_button)
        progress_row = QHBoxLayout()
        bars = QVBoxLayout()
        bars.addWidget(self.files_bar)
        bars.addWidget(self.file_bar)
        progress_row.addLayout(bars, 1)
        progress_row.addWidget(self.pause_button, 0, Qt.AlignmentFlag.AlignTop)
        progress_row.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.error)
        layout.addWidget(self.status)
        layout.addLayout(progress_row)
        layout.addWidget(self.summary)
        layout.addWidget(self.skipped)

        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        indexing.progressed.connect(self._show_progress)
        indexing.file_reported.connect(self._file_reported)
        indexing.state_changed.connect(self._show_state)
        indexing.finished.connect(self._show_report)
        indexing.library_changed.connect(self.refresh)
        self.refresh()
        self._show_state()
        if indexing.report is not None and indexing.report.outcome:
            self._show_report(indexing.report)

    # ---- actions -------------------------------------------------------------------------------------

    def add_paths(self, paths: Sequence[str]) -> None:
        paths = [p for p in paths if p]
        if not paths:
            return
        refused = self.indexing.add(paths)
        self._show_error("\n".join(refused))
        self.refresh()

    def remove_selected(self) -> None:
        source = self.selected_source()
        if source is None or not self.confirm(self, source):
            return
        self.indexing.remove(source.path)
        self.status.setText(f"Removing {source.path}…")

    def selected_source(self) -> SourceInfo | None:
        items = self.tree.selectedItems()
        if not items:
            return None
        item = items[0]
        while item.parent() is not None:
            item = item.parent()
        index = self.tree.indexOfTopLevelItem(item)
        return self.sources[index] if 0 <= index < len(self.sources) else None

    def _rescan(self) -> None:
        if not self.indexing.rescan():
            self.status.setText("Indexing is paused: press Resume first.")

    def _pause_or_resume(self) -> None:
        if self.indexing.paused:
            self.indexing.resume()
        else:
            self.indexing.pause()

    # ---- the list ------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the sources and their problems from the library (SQLite only)."""
        self._refresh_timer.stop()
        try:
            self.sources = library.list_sources(self.data_dir)
            files = library.list_files(self.data_dir) if self.sources else []
        except DocumentsError as error:
            self._show_error(str(error))
            return
        selected = self.selected_source()
        problems: dict[int, list[FileInfo]] = {}
        for file in files:
            if file.status == "skipped":
                problems.setdefault(file.source_id, []).append(file)
        self.tree.clear()
        for source in self.sources:
            item = QTreeWidgetItem([_source_name(source), f"{source.files:,}", f"{source.chunks:,}",
                                    f"{source.skipped:,}" if source.skipped else "", _when(source.last_scan)])
            item.setToolTip(0, source.path)
            for column in (1, 2, 3):
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for file in problems.get(source.source_id, []):
                child = QTreeWidgetItem([f"{Path(file.path).name}: {file.reason}", "", "", "", ""])
                child.setToolTip(0, f"{file.path}\n{file.reason}")
                item.addChild(child)
            self.tree.addTopLevelItem(item)
            if selected is not None and source.source_id == selected.source_id:
                item.setSelected(True)
        self.tree.setVisible(bool(self.sources))
        self.empty.setVisible(not self.sources)
        self._update_buttons()

    def problems_text(self) -> list[str]:
        """Every problem row as shown (for tests): "name: reason"."""
        rows = []
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            rows += [item.child(i).text(0) for i in range(item.childCount())]
        return rows

    # ---- the run -------------------------------------------------------------------------------------

    def _show_progress(self, progress: FileProgress) -> None:
        what = progress.message or "Indexing"
        counted = f" ({progress.done} of {progress.total} files done)" if progress.total else ""
        self.status.setText(f"{what}{counted}…")
        self.files_bar.setMaximum(max(progress.total, 1))
        self.files_bar.setValue(min(progress.done, max(progress.total, 1)))
        self.files_bar.setVisible(True)
        self.file_bar.setVisible(progress.file_total > 0)
        if progress.file_total:
            self.file_bar.setMaximum(progress.file_total)
            self.file_bar.setValue(min(progress.file_done, progress.file_total))

    def _file_reported(self, event: DocumentIndexed) -> None:
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _show_state(self) -> None:
        running, paused = self.indexing.running, self.indexing.paused
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setEnabled(running or paused)
        self.cancel_button.setEnabled(running)
        self.files_bar.setVisible(running)
        self.file_bar.setVisible(running and self.file_bar.maximum() > 0 and self.file_bar.value() > 0)
        if paused and not running:
            self.status.setText("Paused. Press Resume to go on; nothing is read meanwhile.")
        elif not running:
            self.status.setText("")  # the run is over: the summary below says what it did
        self._update_buttons()

    def _show_report(self, report: RunReport) -> None:
        self.summary.setText(report.summary())
        self.skipped.clear()
        for path, reason in report.skipped:
            self.skipped.addItem(f"{Path(path).name}: {reason}")
            self.skipped.item(self.skipped.count() - 1).setToolTip(path)
        self.skipped.setVisible(bool(report.skipped))
        if report.outcome == "failed":
            self._show_error(report.error)
        self.refresh()

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(self.selected_source() is not None)
        self.rescan_button.setEnabled(bool(self.sources) and not self.indexing.running)

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))

    # ---- drops ---------------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # Qt override
        urls = event.mimeData().urls()
        local = [url.toLocalFile() for url in urls if url.isLocalFile()]
        others = [url.toString() for url in urls if not url.isLocalFile()]
        event.acceptProposedAction()
        self.add_paths(local + others)  # a web address gets its refusal message like a bad path


def _source_name(source: SourceInfo) -> str:
    return f"{source.path}/" if source.is_folder else source.path


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "not yet"
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")
