"""The first-run panel's table: one row per catalogue chat model, with what was measured here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem, QWidget

from assistant.models.fit import ModelRow, Speed

# "Answers": what the model got right on the held-out factual questions (`assistant bench qa`): what a
# larger download buys, beside what it costs (size, RAM, speed).
COLUMNS = ("Model", "Size", "RAM need", "Answers", "Fits", "Status", "Load", "Prompt", "Answer speed")
FIT_TEXT = {"fits": "yes", "tight": "only if other programs close", "too big": "no", "unknown": "unknown"}


class ModelTable(QTableWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        answers = self.horizontalHeaderItem(COLUMNS.index("Answers"))
        if answers is not None:
            answers.setToolTip("Held-out factual questions answered right through the app; in brackets, the "
                               "model asked the bare question with greedy decoding (assistant bench qa)")
        self.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.verticalHeader().hide()
        self.names: list[str] = []
        # The row the user picked; until then the selection follows the recommendation as it changes.
        self.chosen: str | None = None
        self.cellClicked.connect(lambda row, _column: self._choose(row))

    def fill(self, rows: Sequence[ModelRow], speeds: Mapping[str, Speed], notes: Mapping[str, str],
             recommended: str | None) -> None:
        """Redraw every row; the user's pick stays selected, else the recommended model is."""
        self.names = [row.name for row in rows]
        self.setRowCount(len(rows))
        for index, row in enumerate(rows):
            status = notes.get(row.name, row.status_text)
            star = "★ " if row.name == recommended else ""
            cells = (star + row.title, _mb(row.size_mb), _mb(row.ram_mb), row.quality, FIT_TEXT[row.fit],
                     status, *_speed_cells(speeds.get(row.name)))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if row.name == recommended:  # bold as well as starred: seen at a glance
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                self.setItem(index, column, item)
        self.resizeColumnsToContents()
        wanted = self.chosen if self.chosen in self.names else recommended
        if wanted is not None:
            self.selectRow(self.names.index(wanted))

    def select(self, name: str) -> None:
        """Select a model as the user would (tests, and the panel's own API)."""
        if name in self.names:
            self.chosen = name
            self.selectRow(self.names.index(name))

    def _choose(self, row: int) -> None:
        if 0 <= row < len(self.names):
            self.chosen = self.names[row]

    def selected_name(self) -> str | None:
        index = self.currentRow()
        return self.names[index] if 0 <= index < len(self.names) and self.selectedItems() else None

    def text(self, row: int, column: str) -> str:
        item = self.item(row, COLUMNS.index(column))
        return item.text() if item is not None else ""


def _mb(value: int | None) -> str:
    return "?" if value is None else f"{value:,} MB"


def _speed_cells(speed: Speed | None) -> tuple[str, str, str]:
    if speed is None:
        return "", "", ""
    busy = " (CPU busy)" if speed.busy else ""  # other programs slowed it, even measured twice
    return (f"{speed.load_s:.1f} s", f"{speed.prompt_tokens_per_s:.0f} tok/s",
            f"{speed.decode_tokens_per_s:.1f} tok/s{busy}")
