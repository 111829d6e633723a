"""Models ▸ Manage models…: recommended downloads, and every model with its status; add, remove, verify
and download.

All file work (copying a 5 GB GGUF, hashing, downloading) runs on a worker thread and reports through
Qt signals, so the window never freezes. Nothing connects to the network unless the user clicks Get on a
recommended model or fills in the Download form. The operations themselves live in
``assistant.models.user_files``, ``assistant.models.picks`` and ``assistant.models.download`` (no Qt),
shared with ``assistant models``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from assistant.models import catalog
from assistant.models import user_files as model_files
from assistant.models.download import HubFile
from assistant.models.hardware import probe
from assistant.models.picks import offered
from assistant.ui.models.download_form import DownloadForm
from assistant.ui.models.recommended_table import RecommendedTable

log = logging.getLogger(__name__)

COLUMNS = ("Name", "Role", "Size", "Status", "Licence")
STATUS_COLUMN = 3


class _Signals(QObject):
    # Emitted on the worker thread; Qt queues them to the dialog on the GUI thread.
    progressed = Signal(str, object, object)  # byte counts: a 4.7 GB pick is beyond a C int
    finished = Signal(object)
    failed = Signal(str, bool)  # message, resumable


class ModelsDialog(QDialog):
    models_changed = Signal()  # a file was added, removed or downloaded: the model picker refreshes

    def __init__(self, data_dir: Path, hub_endpoint: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(980, 640)
        self.setAcceptDrops(True)
        self._data_dir = data_dir
        self._endpoint = hub_endpoint
        self._entries: list[catalog.ModelEntry] = []
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None
        self._last_download: HubFile | None = None
        self._last_pick: catalog.ModelEntry | None = None
        self._started = 0.0
        self._signals = _Signals(self)
        self._signals.progressed.connect(self._on_progress)
        self._signals.failed.connect(self._on_failed)
        self._on_done: Callable[[Any], None] = lambda _r: None
        self._signals.finished.connect(lambda result: self._on_done(result))

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(STATUS_COLUMN, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):  # role, size, licence: as wide as their words
            if column != STATUS_COLUMN:
                header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setColumnWidth(0, 320)  # model titles are long; the status wraps instead
        self.table.verticalHeader().hide()
        self.recommended = RecommendedTable()
        self.get_button = QPushButton("Get")
        self.get_button.setToolTip("Download the selected model (resumable; checked before it is used)")
        get_row = QHBoxLayout()
        get_row.addWidget(QLabel("One click for a better model: select one and press Get. Nothing "
                                 "connects until you do."), 1)
        get_row.addWidget(self.get_button)
        hint = QLabel("Drop .gguf files here to add them (a vision model's projector comes along).")
        self.add_button = QPushButton("Add…")
        self.remove_button = QPushButton("Remove")
        self.verify_button = QPushButton("Verify")
        self.download_button = QPushButton("Download…")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        for button in (self.add_button, self.remove_button, self.verify_button, self.download_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        work = QHBoxLayout()
        work.addWidget(self.progress, 1)
        work.addWidget(self.resume_button)
        work.addWidget(self.cancel_button)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.recommended)
        layout.addLayout(get_row)
        layout.addWidget(hint)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addLayout(work)
        layout.addWidget(self.message)
        layout.addWidget(close)
        self.progress.hide()
        self.resume_button.hide()
        self.cancel_button.hide()

        self.add_button.clicked.connect(self.pick_files)
        self.remove_button.clicked.connect(self.remove_selected)
        self.verify_button.clicked.connect(self.verify)
        self.download_button.clicked.connect(self.ask_download)
        self.get_button.clicked.connect(self.get_selected)
        self.recommended.itemSelectionChanged.connect(self._update_buttons)
        self.resume_button.clicked.connect(self.resume)
        self.cancel_button.clicked.connect(self._cancel.set)  # the worker sees it between reads
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.refresh()

    # --- the table ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        try:
            entries = catalog.all_models(self._data_dir)
        except catalog.ModelError as error:
            entries = []
            self.message.setText(str(error))
        picks = offered(entries)
        self.recommended.fill(picks, self._data_dir, probe(self._data_dir))
        # A pick not downloaded yet is listed above only; once here, it is one of the models below.
        self._entries = [e for e in entries
                         if e.source != "hub" or self.recommended.statuses.get(e.name) == catalog.READY]
        self.table.setRowCount(len(self._entries))
        for row, entry in enumerate(self._entries):
            status, reason = catalog.status_detail(entry, self._data_dir)
            size = f"{entry.size / 1e6:,.0f} MB" if entry.size else "?"
            title = entry.title + (" (default)" if entry.default else "")
            for col, text in enumerate((title, entry.role, size, f"{status}: {reason}" if reason else status,
                                        entry.licence)):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self._update_buttons()

    def names(self) -> list[str]:
        return [e.name for e in self._entries]

    def status_of(self, name: str) -> str:
        item = self.table.item(self.names().index(name), STATUS_COLUMN)
        return item.text() if item else ""

    def select(self, name: str) -> None:
        self.table.selectRow(self.names().index(name))

    def _selected(self) -> catalog.ModelEntry | None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        return self._entries[rows.pop()] if len(rows) == 1 else None

    def _update_buttons(self) -> None:
        busy = self._worker is not None
        entry = self._selected()
        for button in (self.add_button, self.verify_button, self.download_button):
            button.setEnabled(not busy)
        pick = self.recommended.selected()
        self.get_button.setEnabled(not busy and pick is not None
                                   and self.recommended.statuses.get(pick.name) != catalog.READY)
        self.remove_button.setEnabled(not busy and entry is not None
                                      and model_files.removable(entry, self._data_dir))

    # --- add and remove ----------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # Qt override
        if _gguf_paths(event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # Qt override
        paths = _gguf_paths(event.mimeData().urls())
        if paths:
            event.acceptProposedAction()
            self.add(paths)

    def pick_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "Add models", str(Path.home()), "GGUF models (*.gguf)")
        if names:
            self.add([Path(n) for n in names])

    def add(self, paths: list[Path]) -> None:
        folder = catalog.user_models_dir(self._data_dir)

        def done(added: model_files.Added) -> None:
            names = ", ".join(p.name for p in added.files)
            self._finish(" ".join([f"Added {names}.", *added.notes]), changed=True)

        self._run(lambda: model_files.add_models(paths, folder, progress=self._report, cancel=self._cancel),
                  done)

    def remove_selected(self) -> None:
        entry = self._selected()
        if entry is None or not model_files.removable(entry, self._data_dir):
            return
        answer = QMessageBox.question(self, "Remove model", f"Delete {entry.filename} from {entry.path}?")
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            removed = model_files.remove_model(entry.name, self._data_dir)
        except catalog.ModelError as error:
            self.message.setText(str(error))
            return
        self._finish(f"Removed {', '.join(p.name for p in removed)}.", changed=True)

    # --- verify and download -----------------------------------------------------------------------

    def verify(self) -> None:
        def done(verdicts: list[model_files.Verdict]) -> None:
            self.refresh()
            words = {True: "verified", False: "DAMAGED", None: "not checked"}
            for v in verdicts:
                if v.name in self.names():
                    item = self.table.item(self.names().index(v.name), STATUS_COLUMN)
                    if item is not None:
                        item.setText(f"{words[v.ok]}: {v.message}")
            bad = [v.name for v in verdicts if v.ok is False]
            self._finish(f"Damaged: {', '.join(bad)}." if bad else "Every model on disk is sound.")

        self._run(lambda: model_files.verify_models(self._data_dir, self._report, self._cancel), done)

    def ask_download(self) -> None:
        form = DownloadForm(self)
        if form.exec() == QDialog.DialogCode.Accepted:
            self.start_download(form.hub_file())

    def resume(self) -> None:
        if self._last_pick is not None:
            self.start_install(self._last_pick)
        elif self._last_download is not None:
            self.start_download(self._last_download)

    def get_selected(self) -> None:
        pick = self.recommended.selected()
        if pick is not None:
            self.start_install(pick)

    def start_install(self, pick: catalog.ModelEntry) -> None:
        from assistant.models.picks import install  # connects: only on Get or Resume

        self._last_pick, self._last_download = pick, None

        def done(path: Path) -> None:
            self._last_pick = None
            where = {"clip": "image labels and image search use it now",
                     "stt": "choose it in Settings ▸ Voice"}.get(pick.role, "choose it in the model picker")
            self._finish(f"Installed {pick.title} ({path}); {where}.", changed=True)

        self._run(lambda: install(pick, self._data_dir, endpoint=self._endpoint, progress=self._report,
                                  cancel=self._cancel), done, cancellable=True)

    def start_download(self, file: HubFile) -> None:
        from assistant.models.download import download  # the only path in the window that connects

        self._last_download, self._last_pick = file, None
        folder = catalog.user_models_dir(self._data_dir)

        def done(path: Path) -> None:
            self._last_download = None
            self._finish(f"Downloaded {path.name}.", changed=True)

        self._run(lambda: download(file, folder, endpoint=self._endpoint, progress=self._report,
                                   cancel=self._cancel), done, cancellable=True)

    # --- the worker --------------------------------------------------------------------------------

    def busy(self) -> bool:
        return self._worker is not None

    def _run(self, job: Callable[[], Any], on_done: Callable[[Any], None], cancellable: bool = True) -> None:
        if self._worker is not None:
            return
        self._cancel.clear()
        self._on_done = on_done
        self._started = time.monotonic()
        self.message.setText("")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.resume_button.hide()
        self.cancel_button.setVisible(cancellable)
        signals = self._signals

        def work() -> None:  # runs on the worker thread; reports only through signals
            try:
                result = job()
            except Exception as error:  # every failure becomes a message; the dialog stays usable
                log.info("models dialog: %s", error)
                signals.failed.emit(str(error), bool(getattr(error, "resumable", False)))
                return
            signals.finished.emit(result)

        self._worker = threading.Thread(target=work, name="models-dialog", daemon=True)
        self._worker.start()
        self._update_buttons()

    def _report(self, stage: str, done: int, total: int) -> None:
        self._signals.progressed.emit(stage, done, total)  # worker thread → GUI thread

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        scale = max(total // 1_000_000_000 + 1, 1)  # QProgressBar holds an int
        self.progress.setRange(0, total // scale if total else 0)
        self.progress.setValue(done // scale)
        speed = done / max(time.monotonic() - self._started, 1e-3) / 1e6
        size = f" of {total / 1e6:,.0f}" if total else ""
        self.message.setText(f"{stage}: {done / 1e6:,.1f}{size} MB ({speed:,.1f} MB/s)")

    def _on_failed(self, message: str, resumable: bool) -> None:
        self._finish(message)
        if self._last_pick is not None:
            self.refresh()  # the pick's row says it is partly downloaded
        self.resume_button.setVisible(resumable and (self._last_download or self._last_pick) is not None)

    def _finish(self, message: str, changed: bool = False) -> None:
        if self._worker is not None:
            self._worker.join(5)
            self._worker = None
        self.progress.hide()
        self.cancel_button.hide()
        self.message.setText(message)
        if changed:
            self.refresh()
            self.models_changed.emit()
        self._update_buttons()

    def reject(self) -> None:  # Close or Escape: stop the work (a download's part stays for later)
        self._cancel.set()
        super().reject()


def _gguf_paths(urls: list[Any]) -> list[Path]:
    local = [u.toLocalFile() for u in urls if u.isLocalFile()]
    return [Path(name) for name in local if name.lower().endswith(".gguf")]
