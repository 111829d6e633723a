"""The Models dialog's "Recommended downloads": one row per curated pick, with what it costs and whether it
fits this computer. Reading it connects nowhere; the dialog's Get button downloads the selected pick."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from assistant.models import catalog
from assistant.models.fit import fit
from assistant.models.hardware import Hardware

COLUMNS = ("Recommended download", "For", "Download", "Memory", "Fits here", "Licence", "Status")
STATUS_COLUMN = COLUMNS.index("Status")
ROLE_WORDS = {"chat": "answers", "clip": "image labels and search", "stt": "speech to text"}
FIT_WORDS = {"fits": "yes", "tight": "if other programs close", "too big": "no", "unknown": "unknown"}
STATUS_WORDS = {catalog.READY: "installed", catalog.NOT_DOWNLOADED: "not downloaded",
                catalog.BAD_CHECKSUM: "damaged"}


class RecommendedTable(QTableWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        for column in range(1, 5):  # role, sizes, fit: as wide as their words
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(STATUS_COLUMN, QHeaderView.ResizeMode.Stretch)
        self.setColumnWidth(0, 300)
        self.setColumnWidth(COLUMNS.index("Licence"), 120)
        self.setWordWrap(True)
        self.picks: list[catalog.ModelEntry] = []
        self.statuses: dict[str, str] = {}

    def fill(self, picks: Sequence[catalog.ModelEntry], data_dir: Path, machine: Hardware) -> None:
        self.picks = list(picks)
        self.setRowCount(len(self.picks))
        for row, entry in enumerate(self.picks):
            status, reason = catalog.status_detail(entry, data_dir)
            self.statuses[entry.name] = status
            text = STATUS_WORDS.get(status, status)
            if reason and (status != catalog.NOT_DOWNLOADED or "resumes" in reason):
                text = f"{text}: {reason}"
            vision = " (reads images)" if entry.projector else ""
            cells = (entry.title, ROLE_WORDS.get(entry.role, entry.role) + vision,
                     f"{entry.size / 1e9:,.2f} GB" if entry.size else "?",
                     f"{entry.ram_mb:,} MB" if entry.ram_mb else "?", FIT_WORDS[fit(entry.ram_mb, machine)],
                     entry.licence, text)
            for column, value in enumerate(cells):
                item = QTableWidgetItem(value)
                item.setToolTip(entry.notes if column == 0 else value)
                self.setItem(row, column, item)
        self.resizeRowsToContents()

    def selected(self) -> catalog.ModelEntry | None:
        rows = {i.row() for i in self.selectedIndexes()}
        return self.picks[rows.pop()] if len(rows) == 1 else None

    def select(self, name: str) -> None:
        self.selectRow([e.name for e in self.picks].index(name))

    def status_text(self, name: str) -> str:
        item = self.item([e.name for e in self.picks].index(name), STATUS_COLUMN)
        return item.text() if item is not None else ""
