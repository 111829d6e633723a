"""Models ▸ Browse…: search the Hugging Face hub for GGUF models, see which file fits, download it.

The dialog connects only when it is opened (a first search for the most downloaded GGUF repositories)
and when the user searches, opens a repository or downloads. Every hub call runs on a worker thread
(``browse_worker.HubWorker``), so the window never waits on the network; offline, the dialog says so
and stays usable. The work itself is plain Python shared with ``assistant models search | files |
download``: ``hub_client`` (search, listing), ``hub_fit`` (the fit label), ``hub_download`` (every
shard and a vision model's projector, verified). After a download the window's model picker is
refreshed (``models_changed``) and "Use this model" makes it the chat model (``model_chosen``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from assistant.models import catalog, hardware
from assistant.models.download_http import DownloadError
from assistant.models.hub_client import HubClient, HubRepo, RepoListing
from assistant.models.hub_download import DownloadPlan, Fetched, plan
from assistant.models.hub_files import LogicalFile, projector_for
from assistant.models.hub_fit import FileFit, assess
from assistant.ui.models.browse_worker import HubWorker

log = logging.getLogger(__name__)

REPO_COLUMNS = ("Repository", "Downloads", "Likes", "Licence", "Updated")
FILE_COLUMNS = ("File", "Quant", "Size", "RAM", "Fit")
FIT_COLUMN = 4
FIT_COLOURS = {"fits": "#2e7d32", "slow": "#b26a00", "won't fit": "#c62828", "unknown": "#757575"}


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def _cell(text: str, number: float | None = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if number is not None:  # sort by the value, show it formatted
        item.setData(Qt.ItemDataRole.UserRole, number)
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _projector_bytes(model: LogicalFile, listing: RepoListing) -> int:
    projector = projector_for(model, listing.files)
    return projector.size if projector is not None else 0


def _table(columns: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().hide()
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for column in range(1, len(columns)):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    return table


class BrowseDialog(QDialog):
    models_changed = Signal()  # a model was downloaded: the model picker refreshes
    model_chosen = Signal(str)  # "Use this model": the new model's name

    def __init__(self, data_dir: Path, hub_endpoint: str = "", parent: QWidget | None = None, *,
                 vram_mb: int | None = None, search_on_open: bool = True) -> None:
        super().__init__(parent)
        self.setWindowTitle("Browse models on the Hugging Face hub")
        self.resize(1000, 640)
        self._data_dir = data_dir
        self._client = HubClient(hub_endpoint)
        self._endpoint = hub_endpoint
        self._vram_mb = vram_mb  # a GPU build's memory, when the engine reported one
        self._repos: list[HubRepo] = []
        self._listing: RepoListing | None = None
        self._fits: dict[str, FileFit] = {}
        self._waiting: set[str] = set()  # queries asked and not yet answered
        self._last_plan: DownloadPlan | None = None
        self._awaiting_download = False  # see busy()
        self._downloaded: Fetched | None = None
        self._started = 0.0
        self._first_done: int | None = None
        self._worker = HubWorker(self)
        self._worker.answered.connect(self._on_answer)
        self._worker.failed.connect(self._on_failed)
        self._worker.progressed.connect(self._on_progress)
        self._worker.fetched.connect(self._on_fetched)
        self._worker.fetch_failed.connect(self._on_fetch_failed)

        self.query = QLineEdit()
        self.query.setPlaceholderText("Search GGUF models, e.g. qwen 1.5b instruct, gemma 3, smolvlm")
        self.search_button = QPushButton("Search")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.repos = _table(REPO_COLUMNS)
        self.files = _table(FILE_COLUMNS)
        self.detail = QLabel("Choose a repository, then a file.")
        self.detail.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.cancel_button = QPushButton("Cancel")
        self.resume_button = QPushButton("Resume")
        self.use_button = QPushButton("Use this model")
        self.progress = QProgressBar()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        top = QHBoxLayout()
        top.addWidget(self.query, 1)
        top.addWidget(self.search_button)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.files, 1)
        lower_layout.addWidget(self.detail)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.repos)
        split.addWidget(lower)
        work = QHBoxLayout()
        work.addWidget(self.download_button)
        work.addWidget(self.progress, 1)
        work.addWidget(self.resume_button)
        work.addWidget(self.cancel_button)
        work.addWidget(self.use_button)
        work.addStretch()  # keeps the buttons their size while the progress bar is hidden
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)
        layout.addLayout(work)
        layout.addWidget(self.message)
        layout.addWidget(close)
        for widget in (self.progress, self.cancel_button, self.resume_button, self.use_button):
            widget.hide()

        self.query.returnPressed.connect(lambda: self.search())
        self.search_button.clicked.connect(lambda: self.search())  # not the button's "checked" bool
        self.repos.itemSelectionChanged.connect(self._repo_selected)
        self.files.itemSelectionChanged.connect(self._file_selected)
        self.download_button.clicked.connect(lambda: self.download_selected())
        self.cancel_button.clicked.connect(lambda: self._worker.cancel())
        self.resume_button.clicked.connect(lambda: self.resume())
        self.use_button.clicked.connect(lambda: self._use_downloaded())
        self._update_buttons()
        if search_on_open:
            QTimer.singleShot(0, lambda: self.search())  # after the dialog shows: the first answer fills it

    # --- searching and listing --------------------------------------------------------------------

    def search(self, text: str | None = None) -> None:
        if text is not None:
            self.query.setText(text)
        words = self.query.text().strip()
        self.status.setText(f"Searching the hub for {words!r}…" if words else
                            "Asking the hub for the most downloaded GGUF models…")
        self._waiting.add("search")
        self._worker.ask("search", lambda: self._client.search(words))

    def open_repo(self, repo_id: str) -> None:
        self._listing = None
        self.files.setRowCount(0)
        self.detail.setText(f"Listing the files of {repo_id}…")
        self._waiting.add("files")
        self._worker.ask("files", lambda: self._client.files(repo_id))
        self._update_buttons()

    def _on_answer(self, kind: str, result: object) -> None:
        self._waiting.discard(kind)
        if kind == "search":
            assert isinstance(result, list)
            self._show_repos(result)
        elif isinstance(result, RepoListing):
            self._show_files(result)

    def _on_failed(self, kind: str, message: str, offline: bool) -> None:
        self._waiting.discard(kind)
        text = f"Offline or the hub is unreachable. {message}" if offline else message
        if kind == "search":
            self.status.setText(text)
        else:
            self.detail.setText(text)
        self._update_buttons()

    def _show_repos(self, repos: list[HubRepo]) -> None:
        self._repos = repos
        self.repos.setSortingEnabled(False)
        self.repos.setRowCount(len(repos))
        for row, repo in enumerate(repos):
            name = repo.repo_id + (" (vision)" if repo.vision else "") + (" (gated)" if repo.gated else "")
            updated = repo.updated.date().isoformat() if repo.updated else "?"
            cells = (_cell(name), _cell(f"{repo.downloads:,}", repo.downloads),
                     _cell(f"{repo.likes:,}", repo.likes), _cell(repo.licence or "?"), _cell(updated))
            for column, item in enumerate(cells):
                item.setData(Qt.ItemDataRole.UserRole + 1, repo.repo_id)
                self.repos.setItem(row, column, item)
        words = self.query.text().strip()
        self.status.setText(f"{len(repos)} GGUF repositories" + (f" matching {words!r}" if words else "")
                            + (", most downloaded first." if repos else ". Try other words."))

    def _show_files(self, listing: RepoListing) -> None:
        self._listing = listing
        machine = hardware.probe(self._data_dir)  # memory free *now*: cheap, /proc reads
        self._fits = {f.path: assess(f.size, machine, self._vram_mb, _projector_bytes(f, listing))
                      for f in listing.models}
        self.files.setRowCount(len(listing.files))
        for row, file in enumerate(listing.files):
            self._fill_file_row(row, file)
        if not listing.files:
            self.detail.setText(f"{listing.repo_id} has no GGUF files ({len(listing.others)} other files); "
                                "look for a repository whose name ends in -GGUF.")
        else:
            licence = f"licence {listing.licence}" if listing.licence else "no licence stated"
            vision = " It is a vision repository: its projector comes with the model." if listing.projectors \
                else ""
            gated = " It is gated (needs an accepted licence and a token): downloads are refused." \
                if listing.gated else ""
            self.detail.setText(f"{listing.repo_id}: {len(listing.models)} models, {licence}.{vision}{gated}")
        self._update_buttons()

    def _fill_file_row(self, row: int, file: LogicalFile) -> None:
        fit = self._fits.get(file.path)
        if file.is_projector:
            cells = [file.title, file.quant or "?", _size(file.size), "", "projector: comes with a model"]
        else:
            assert fit is not None
            label = fit.label if file.complete else "incomplete"
            cells = [file.title, file.quant or "?", _size(file.size), f"{fit.ram_mb / 1024:.1f} GB", label]
        for column, text in enumerate(cells):
            item = _cell(text)
            item.setData(Qt.ItemDataRole.UserRole + 1, file.path)
            if file.is_projector or not file.complete:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
                item.setForeground(QBrush(QColor(FIT_COLOURS["unknown"])))
            elif column == FIT_COLUMN and fit is not None:
                item.setForeground(QBrush(QColor(FIT_COLOURS[fit.label])))
                item.setToolTip(fit.reason)
            self.files.setItem(row, column, item)

    def _repo_selected(self) -> None:
        repo = self._selected(self.repos)
        if repo is not None:
            self.open_repo(repo)

    def _file_selected(self) -> None:
        file = self.selected_file()
        if file is not None and self._listing is not None:
            fit = self._fits[file.path]
            projector = projector_for(file, self._listing.files)
            extra = f" Its projector {projector.name} ({_size(projector.size)}) comes along." if projector \
                else ""
            if self._listing.gated:
                extra += " The repository is gated (licence and token): it cannot be downloaded here."
            self.detail.setText(f"{file.title}: {fit.label}, {fit.reason}.{extra}")
        self._update_buttons()

    @staticmethod
    def _selected(table: QTableWidget) -> str | None:
        rows = {i.row() for i in table.selectedIndexes()}
        if len(rows) != 1:
            return None
        item = table.item(rows.pop(), 0)
        return item.data(Qt.ItemDataRole.UserRole + 1) if item is not None else None

    def selected_file(self) -> LogicalFile | None:
        path = self._selected(self.files)
        if path is None or self._listing is None:
            return None
        return next((f for f in self._listing.files if f.path == path), None)

    # --- for tests and the window: what is shown --------------------------------------------------

    def repo_ids(self) -> list[str]:
        return [r.repo_id for r in self._repos]

    def file_names(self) -> list[str]:
        return [f.path for f in self._listing.files] if self._listing is not None else []

    def fit_of(self, path: str) -> str:
        row = self.file_names().index(path)
        item = self.files.item(row, FIT_COLUMN)
        return item.text() if item is not None else ""

    def select_repo(self, repo_id: str) -> None:
        self.repos.selectRow(self.repo_ids().index(repo_id))

    def select_file(self, path: str) -> None:
        self.files.selectRow(self.file_names().index(path))

    def waiting(self) -> bool:
        return bool(self._waiting)

    def busy(self) -> bool:
        """A download is running or its outcome has not reached this window yet: the worker thread
        ends before Qt delivers its queued fetched/fetch_failed signal, so the thread alone says 'idle'
        too early (a second download could start over the first one's result)."""
        return self._awaiting_download or self._worker.downloading()

    # --- downloading ------------------------------------------------------------------------------

    def download_selected(self) -> None:
        file = self.selected_file()
        if file is None or self._listing is None or self.busy():
            return
        try:
            chosen = plan(self._listing, file.path)
        except DownloadError as error:
            self.message.setText(str(error))
            return
        self._start(chosen)

    def resume(self) -> None:
        if self._last_plan is not None:
            self._start(self._last_plan)

    def _start(self, chosen: DownloadPlan) -> None:
        self._last_plan = chosen
        self._downloaded = None
        self._started, self._first_done = time.monotonic(), None
        projector = f" and its projector {chosen.projector.name}" if chosen.projector else ""
        self.message.setText(f"Downloading {chosen.model.title}{projector}…")
        self.progress.setRange(0, 0)
        for widget, shown in ((self.progress, True), (self.cancel_button, True), (self.resume_button, False),
                              (self.use_button, False)):
            widget.setVisible(shown)
        self._awaiting_download = self._worker.download(chosen, catalog.user_models_dir(self._data_dir),
                                                        self._endpoint)
        self._update_buttons()

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        if self._first_done is None:  # a resumed download starts with the bytes it already had
            self._first_done, self._started = done, time.monotonic()
        scale = max(total // 1_000_000_000 + 1, 1)  # QProgressBar holds an int
        self.progress.setRange(0, total // scale if total else 0)
        self.progress.setValue(done // scale)
        speed = (done - self._first_done) / max(time.monotonic() - self._started, 1e-3) / 1e6
        size = f" of {total / 1e6:,.0f}" if total else ""
        self.message.setText(f"{stage}: {done / 1e6:,.1f}{size} MB ({speed:,.1f} MB/s)")

    def _on_fetched(self, fetched: Fetched) -> None:
        self._worker.join()
        self._awaiting_download = False
        self._downloaded = fetched
        self._last_plan = None
        self.progress.hide()
        self.cancel_button.hide()
        self.resume_button.hide()
        self.use_button.show()
        self.message.setText(" ".join([f"Downloaded {fetched.model.name}.", *fetched.notes]))
        self.models_changed.emit()
        self._update_buttons()

    def _on_fetch_failed(self, message: str, resumable: bool) -> None:
        self._worker.join()
        self._awaiting_download = False
        self.progress.hide()
        self.cancel_button.hide()
        self.resume_button.setVisible(resumable and self._last_plan is not None)
        self.message.setText(message)
        self._update_buttons()

    def _use_downloaded(self) -> None:
        if self._downloaded is not None:
            self.model_chosen.emit(self._downloaded.model.stem)
            self.message.setText(f"{self._downloaded.model.stem} is now the chat model.")

    def downloaded_model(self) -> Path | None:
        return self._downloaded.model if self._downloaded is not None else None

    def _update_buttons(self) -> None:
        file = self.selected_file()
        self.download_button.setEnabled(not self.busy() and file is not None and not file.is_projector
                                         and file.complete and not (self._listing and self._listing.gated))

    def reject(self) -> None:  # Close or Escape: a running download stops, its part stays for later
        self._worker.cancel()
        super().reject()
