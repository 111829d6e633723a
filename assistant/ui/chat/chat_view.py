"""The conversation on screen: a scrolling column of message bubbles.

Streaming tokens arrive far faster than anyone reads, and each re-render parses the whole answer's
Markdown, so the streaming bubble is re-rendered at most every RENDER_INTERVAL_MS. The view follows the
newest text unless the user has scrolled up to read something older.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from assistant.history.store import StoredMessage
from assistant.prompt.documents import Passage, sources
from assistant.prompt.grounding import passages
from assistant.ui.chat.message_bubble import MessageBubble
from assistant.ui.documents.open_source import SourceOpener

RENDER_INTERVAL_MS = 50
BOTTOM_SLACK_PX = 24  # this close to the bottom still counts as "following the answer"
EMPTY_TEXT = "Ask anything. Your questions and answers stay on this computer."


class ChatView(QScrollArea):
    def __init__(self, dark: bool = False) -> None:
        super().__init__()
        self.setObjectName("chatView")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._dark = dark
        self._bubbles: dict[int, MessageBubble] = {}
        self._order: list[MessageBubble] = []
        self._pending: dict[int, str] = {}  # message id -> newest streamed text not yet rendered
        self._follow = True
        self.source_opener = SourceOpener()  # opens an answer's cited files (tests record instead)

        self._container = QWidget()
        self._container.setObjectName("chatContainer")
        self._column = QVBoxLayout(self._container)
        self._column.setContentsMargins(16, 16, 16, 16)
        self._column.setSpacing(10)
        self._empty = QLabel(EMPTY_TEXT)
        self._empty.setObjectName("emptyState")
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setWordWrap(True)
        self._column.addWidget(self._empty, 1)
        self._column.addStretch(0)
        self.setWidget(self._container)

        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_INTERVAL_MS)
        self._render_timer.timeout.connect(self._render_pending)
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range_changed)

    # ---- content -------------------------------------------------------------------------------

    def clear(self) -> None:
        self._render_timer.stop()
        self._pending.clear()
        for bubble in self._order:
            bubble.parentWidget().deleteLater()  # the row widget that holds the bubble
        self._order.clear()
        self._bubbles.clear()
        self._empty.show()
        self._follow = True

    def show_messages(self, messages: Iterable[StoredMessage]) -> None:
        """Replace the view with a stored conversation, scrolled to its end."""
        self.setUpdatesEnabled(False)  # one repaint for the whole conversation, not one per message
        try:
            self.clear()
            given: list[Passage] = []  # the passages of the question an answer replies to
            question = ""
            for message in messages:
                bubble = self.add_message(message.id, message.role, message.text, model=message.model)
                if message.attachments or message.groundings:
                    bubble.set_attachments(message.attachments, message.groundings)
                if message.role == "user":
                    given, question = passages(message.groundings), message.text
                elif given and message.status != "streaming":
                    self.set_sources(message.id, sources(message.text, question, given))
                error = message.timings.get("error") if message.status != "complete" else None
                if message.status == "failed" and error == message.text:
                    error = None  # the text already is the error
                # The stored sampling record shows beside the timings, as for an answer just written.
                timings = message.timings | ({"sampling": message.sampling} if message.sampling else {})
                bubble.set_status(message.status, error, timings)
                if message.status == "streaming":
                    bubble.set_text(message.text, streaming=True)
        finally:
            self.setUpdatesEnabled(True)
        self.scroll_to_bottom()

    def add_message(
        self, message_id: int, role: str, text: str, *, model: str | None = None, streaming: bool = False
    ) -> MessageBubble:
        self._empty.hide()
        bubble = MessageBubble(message_id, role, self._dark, model)
        bubble.set_text(text, streaming=streaming)
        row = QWidget()
        row_layout = QHBoxLayout(row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        if role == "user":
            row_layout.addStretch(1)  # questions sit on the right, narrower than answers
            row_layout.addWidget(bubble, 4)
        else:
            row_layout.addWidget(bubble)
        self._column.insertWidget(self._column.count() - 1, row)
        self._bubbles[message_id] = bubble
        self._order.append(bubble)
        return bubble

    def bubble(self, message_id: int) -> MessageBubble | None:
        return self._bubbles.get(message_id)

    def bubbles(self) -> list[MessageBubble]:
        return list(self._order)

    def update_streaming(self, message_id: int, text: str) -> None:
        """Queue a re-render of a streaming answer; renders at most every RENDER_INTERVAL_MS."""
        if message_id not in self._bubbles:
            return
        self._pending[message_id] = text
        if not self._render_timer.isActive():
            self._render_timer.start()

    def finish_message(
        self, message_id: int, text: str, status: str, error: str | None = None, timings: dict | None = None
    ) -> None:
        bubble = self._bubbles.get(message_id)
        if bubble is None:
            return
        self._pending.pop(message_id, None)
        bubble.set_text(text)
        bubble.set_status(status, error, timings)

    def set_sources(self, message_id: int, answer_sources: list[Passage]) -> None:
        """The answer's sources as clickable links under it (none: nothing is shown)."""
        bubble = self._bubbles.get(message_id)
        if bubble is not None and answer_sources:
            bubble.set_sources(answer_sources, self.source_opener)

    def flush(self) -> None:
        """Render anything queued right now (tests, and before switching conversations)."""
        self._render_timer.stop()
        self._render_pending()

    def set_dark(self, dark: bool) -> None:
        self._dark = dark
        for bubble in self._order:
            bubble.set_dark(dark)

    def messages_plain_text(self) -> list[str]:
        self.flush()
        return [bubble.plain_text() for bubble in self._order]

    def _render_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for message_id, text in pending.items():
            bubble = self._bubbles.get(message_id)
            if bubble is not None:
                bubble.set_text(text, streaming=True)

    # ---- scrolling -----------------------------------------------------------------------------

    @property
    def following(self) -> bool:
        return self._follow

    def scroll_to_bottom(self) -> None:
        self._follow = True
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _on_scrolled(self, value: int) -> None:
        self._follow = value >= self.verticalScrollBar().maximum() - BOTTOM_SLACK_PX

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(maximum)
