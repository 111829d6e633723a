"""Conversations, newest first, and a search box over every message.

The sidebar never touches the store: it emits what the user asked for and shows what it is given, so
the controller decides what a failed rename or delete means.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from assistant.history.store import MATCH_END, MATCH_START, ConversationSummary, SearchHit

SEARCH_DEBOUNCE_MS = 200
ID_ROLE = Qt.ItemDataRole.UserRole


class Sidebar(QWidget):
    conversation_selected = Signal(int)
    new_requested = Signal()
    rename_requested = Signal(int, str)
    delete_requested = Signal(int)
    search_requested = Signal(str)  # debounced; "" means the search was cleared

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("sidebar")
        self.setMinimumWidth(200)
        self._populating = False

        self.new_button = QPushButton("New chat")
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search messages…")
        self.search_box.setClearButtonEnabled(True)

        self.conversations = QListWidget()
        self.conversations.setObjectName("conversationList")
        self.conversations.setEditTriggers(
            QAbstractItemView.EditTrigger.EditKeyPressed | QAbstractItemView.EditTrigger.DoubleClicked
        )
        self.conversations.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        # Long titles are elided ("…") instead of widening the list behind a horizontal scrollbar.
        self.conversations.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.conversations.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.conversations.setUniformItemSizes(True)
        self.hits = QListWidget()
        self.hits.setObjectName("searchHits")
        self.hits.setWordWrap(True)
        self.hits.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.no_hits = QLabel("No messages match.")
        self.no_hits.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        for page in (self.conversations, self.hits, self.no_hits):
            self.stack.addWidget(page)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.new_button)
        layout.addWidget(self.search_box)
        layout.addWidget(self.stack, 1)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(lambda: self.search_requested.emit(self.search_text()))

        self.new_button.clicked.connect(self.new_requested)
        self.search_box.textChanged.connect(lambda _text: self._search_timer.start())
        self.conversations.currentItemChanged.connect(self._on_current_changed)
        self.conversations.itemChanged.connect(self._on_item_edited)
        self.conversations.customContextMenuRequested.connect(self._show_menu)
        self.hits.itemClicked.connect(self._on_hit_clicked)
        self.hits.itemActivated.connect(self._on_hit_clicked)
        self.conversations.installEventFilter(self)  # the Delete key on the list

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt override
        if (
            watched is self.conversations
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.matches(QKeySequence.StandardKey.Delete)
            and self.conversations.state() != QAbstractItemView.State.EditingState
        ):
            self._confirm_delete_current()
            return True
        return super().eventFilter(watched, event)

    # ---- showing -------------------------------------------------------------------------------

    def search_text(self) -> str:
        return self.search_box.text().strip()

    def set_conversations(self, summaries: Sequence[ConversationSummary], current_id: int | None) -> None:
        """Rebuild the list (newest first, as given) without emitting selection signals."""
        self._populating = True
        try:
            self.conversations.clear()
            for summary in summaries:
                item = QListWidgetItem(summary.title)
                item.setData(ID_ROLE, summary.id)
                item.setToolTip(summary.title)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                self.conversations.addItem(item)
                if summary.id == current_id:
                    self.conversations.setCurrentItem(item)
            if current_id is None:
                self.conversations.setCurrentItem(None)
        finally:
            self._populating = False
        if not self.search_text():
            self.stack.setCurrentWidget(self.conversations)

    def select(self, conversation_id: int | None) -> None:
        self._populating = True
        try:
            self.conversations.setCurrentItem(self._item(conversation_id))
        finally:
            self._populating = False

    def show_hits(self, hits: Sequence[SearchHit]) -> None:
        """Search results: the chat title and a snippet with the matched words in bold."""
        self.hits.clear()
        for hit in hits:
            item = QListWidgetItem()
            item.setData(ID_ROLE, hit.conversation_id)
            item.setToolTip(hit.title)
            self.hits.addItem(item)
            label = QLabel(f"<b>{html.escape(hit.title)}</b><br>{snippet_html(hit.snippet)}")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setContentsMargins(4, 4, 4, 4)
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)  # clicks reach the item
            item.setSizeHint(label.sizeHint())
            self.hits.setItemWidget(item, label)
        self.stack.setCurrentWidget(self.hits if hits else self.no_hits)

    def show_conversation_list(self) -> None:
        self.stack.setCurrentWidget(self.conversations)

    def titles(self) -> list[str]:
        return [self.conversations.item(i).text() for i in range(self.conversations.count())]

    # ---- user actions --------------------------------------------------------------------------

    def start_rename(self, conversation_id: int) -> None:
        item = self._item(conversation_id)
        if item is not None:
            self.conversations.editItem(item)

    def _item(self, conversation_id: int | None) -> QListWidgetItem | None:
        for row in range(self.conversations.count()):
            item = self.conversations.item(row)
            if item.data(ID_ROLE) == conversation_id:
                return item
        return None

    def _on_current_changed(self, current: QListWidgetItem | None, _previous: object) -> None:
        if not self._populating and current is not None:
            self.conversation_selected.emit(int(current.data(ID_ROLE)))

    def _on_item_edited(self, item: QListWidgetItem) -> None:
        if self._populating:
            return
        title = " ".join(item.text().split())
        if title and title != item.toolTip():
            self.rename_requested.emit(int(item.data(ID_ROLE)), title)

    def _on_hit_clicked(self, item: QListWidgetItem) -> None:
        self.conversation_selected.emit(int(item.data(ID_ROLE)))

    def _show_menu(self, position: QPoint) -> None:
        item = self.conversations.itemAt(position)
        if item is None:
            return
        menu = QMenu(self)
        rename = menu.addAction("Rename")
        delete = menu.addAction("Delete…")
        chosen = menu.exec(self.conversations.viewport().mapToGlobal(position))
        if chosen is rename:
            self.conversations.editItem(item)
        elif chosen is delete:
            self._confirm_delete(item)

    def _confirm_delete_current(self) -> None:
        item = self.conversations.currentItem()
        if item is not None:
            self._confirm_delete(item)

    def _confirm_delete(self, item: QListWidgetItem) -> None:
        answer = QMessageBox.question(
            self,
            "Delete chat",
            f"Delete “{item.text()}” and all its messages? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_requested.emit(int(item.data(ID_ROLE)))


def snippet_html(snippet: str) -> str:
    """Escape the stored snippet first, then turn the store's match markers into bold."""
    escaped = html.escape(" ".join(snippet.split()))
    return escaped.replace(MATCH_START, "<b>").replace(MATCH_END, "</b>")
