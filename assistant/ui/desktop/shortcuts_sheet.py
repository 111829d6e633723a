"""Help ▸ Keyboard shortcuts (F1): every key the window answers to, read from the window itself.

The menu entries come from the window's QActions at the moment the sheet opens, so a new action or a
changed shortcut shows up without anyone editing this file. Keys that are not actions (the composer's
Enter / Shift+Enter / Esc, the push-to-talk key from the settings) are added from the same values the
code uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMainWindow,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from assistant.settings import Settings

NATIVE = QKeySequence.SequenceFormat.NativeText
COMPOSER_KEYS = [
    ("Enter", "Send the question"),
    ("Shift+Enter", "New line in the question"),
    ("Esc", "Stop the answer, the transcription or the voice reading it aloud"),
]


def key_text(sequence: QKeySequence | str) -> str:
    return QKeySequence(sequence).toString(NATIVE)


def action_label(action: QAction) -> str:
    """The menu text as a reader sees it: no & mnemonics, no trailing dots, with its menu in front."""
    text = action.text().replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip(".…")
    path = [text]
    for _ in range(8):  # up through submenus: File ▸ Export ▸ Export as Markdown
        # A titled menu only: the window's own popups (the toolbar's context menu) list menus too.
        menus = [m for m in action.associatedObjects() if isinstance(m, QMenu) and m.title()]
        if not menus:
            return " ▸ ".join(path)
        path.insert(0, menus[0].title().replace("&", ""))
        action = menus[0].menuAction()
    return " ▸ ".join(path)


def collect_shortcuts(window: QMainWindow, settings: Settings) -> list[tuple[str, str]]:
    """(keys, what they do) for every shortcut the window has now, menu actions first."""
    rows: list[tuple[str, str]] = []
    seen: set[int] = set()
    for action in window.findChildren(QAction):
        if id(action) in seen or not action.shortcuts():
            continue
        seen.add(id(action))
        keys = ", ".join(key_text(s) for s in action.shortcuts() if not s.isEmpty())
        if keys:
            rows.append((keys, action_label(action)))
    rows.extend((key_text(keys), what) for keys, what in COMPOSER_KEYS)
    hold = key_text(settings.push_to_talk_key)
    where = "in any app" if settings.global_push_to_talk else "while this window is focused"
    rows.append((f"Hold {hold}", f"Push to talk ({where}): release to stop and send"))
    return rows


class ShortcutsSheet(QDialog):
    def __init__(self, window: QMainWindow, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent or window)
        self.setWindowTitle("Keyboard shortcuts")
        self.setMinimumSize(520, 420)
        self.resize(620, 560)  # every row visible without scrolling
        self.rows = collect_shortcuts(window, settings)
        self.table = QTableWidget(len(self.rows), 2)
        self.table.setHorizontalHeaderLabels(["Keys", "Does"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        for row, (keys, what) in enumerate(self.rows):
            self.table.setItem(row, 0, QTableWidgetItem(keys))
            self.table.setItem(row, 1, QTableWidgetItem(what))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)


def wire_help_menu(window: QMainWindow, settings: Callable[[], Settings],
                   loaded: Callable[[], tuple[str, Any] | None] = lambda: None) -> None:
    """Help ▸ Keyboard shortcuts and Help ▸ About open their dialogs (window-modal, not blocking).
    `loaded()`: the chat model loaded now and its engine's accelerator report, for About."""

    def show(dialog: QDialog) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def about() -> None:
        from assistant.ui.desktop.about import AboutDialog  # on first use: reads the catalogue

        show(AboutDialog(window, loaded()))

    actions = window.shortcuts_action, window.about_action  # type: ignore[attr-defined]
    actions[0].triggered.connect(lambda: show(ShortcutsSheet(window, settings())))
    actions[1].triggered.connect(about)
