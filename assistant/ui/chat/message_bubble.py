"""One message in the chat: role, status badge, attached files, rendered text, timings and any error."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout

from assistant.history import sampling_record
from assistant.prompt.attachments import Attachment
from assistant.prompt.documents import Passage
from assistant.prompt.grounding import Grounding, image_hashes
from assistant.ui.chat import markdown_render
from assistant.ui.chat.grounding_panel import GroundingPanel
from assistant.ui.chat.safe_text import CLICKABLE_SCHEMES, SafeTextBrowser
from assistant.ui.composer.attachment_chips import BUBBLE_THUMBNAIL_PX, ChipRow
from assistant.ui.documents.answer_sources import AnswerSources
from assistant.ui.documents.open_source import SourceOpener

__all__ = ["CLICKABLE_SCHEMES", "MessageBubble", "SafeTextBrowser", "describe_timings"]

BADGE_TEXT = {"stopped": "stopped", "interrupted": "interrupted", "failed": "failed"}


class MessageBubble(QFrame):
    """User messages are plain text; assistant messages are Markdown with highlighted code."""

    def __init__(self, message_id: int, role: str, dark: bool, model: str | None = None) -> None:
        super().__init__()
        self.message_id = message_id
        self.role = role
        self.status = "complete"
        self._dark = dark
        self._text = ""
        self.setObjectName("userBubble" if role == "user" else "assistantBubble")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)

        name = "You" if role == "user" else "Assistant"
        if role == "assistant" and model:
            name += f" · {model.replace(chr(92), '/').rsplit('/', 1)[-1]}"
        self.role_label = QLabel(name)
        self.role_label.setObjectName("bubbleRole")
        self.badge = QLabel()
        self.badge.hide()
        self.meta = QLabel()
        self.meta.setObjectName("bubbleMeta")
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.role_label)
        header.addWidget(self.badge)
        header.addStretch(1)
        header.addWidget(self.meta)

        self.body = SafeTextBrowser()
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)  # engine messages name files: markup stays text
        self.error.setObjectName("bubbleError")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()

        self.chips = ChipRow(removable=False, thumbnail_px=BUBBLE_THUMBNAIL_PX)
        self.grounding: GroundingPanel | None = None
        self.sources: AnswerSources | None = None  # an answer's cited documents

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self.chips)
        layout.addWidget(self.body)
        layout.addWidget(self.error)
        self._layout = layout

    @property
    def text(self) -> str:
        return self._text

    def plain_text(self) -> str:
        return self.body.toPlainText()

    def set_text(self, text: str, streaming: bool = False) -> None:
        self._text = text
        if self.role == "user":
            self.body.setHtml(markdown_render.escape_plain(text))
        elif not text.strip():
            self.body.setHtml("<i>…</i>" if streaming else "")
        else:
            self.body.setHtml(markdown_render.to_html(text, self._dark))
        self.body.fit_height()

    def set_dark(self, dark: bool) -> None:
        if dark != self._dark:
            self._dark = dark
            self.set_text(self._text)

    def set_status(self, status: str, error: str | None = None, timings: dict | None = None) -> None:
        self.status = status
        badge = BADGE_TEXT.get(status)
        self.badge.setVisible(badge is not None)
        if badge:
            self.badge.setText(badge)
            self.badge.setProperty("badge", status)
            self.badge.style().unpolish(self.badge)  # re-apply the stylesheet rule for the new badge
            self.badge.style().polish(self.badge)
        self.error.setVisible(bool(error))
        self.error.setText(error or "")
        self.meta.setText(describe_timings(timings or {}))
        recorded = (timings or {}).get("sampling")
        tip = f"Sampling: {sampling_record.details(recorded)}" if isinstance(recorded, dict) else ""
        self.meta.setToolTip(tip)

    def error_text(self) -> str:
        return self.error.text() if self.error.isVisible() or self.error.text() else ""

    def set_attachments(self, attachments: Sequence[Attachment], groundings: Sequence[Grounding]) -> None:
        """The files this question came with, and (folded) what the model was told about them."""
        self.chips.set_attachments(attachments, image_hashes(attachments, groundings))
        if self.grounding is not None:
            self.grounding.setParent(None)
            self.grounding.deleteLater()
            self.grounding = None
        if groundings:
            self.grounding = GroundingPanel(groundings)
            self._layout.addWidget(self.grounding)

    def set_sources(self, passages: Sequence[Passage], opener: SourceOpener | None = None) -> None:
        """Under an answer from documents: the passages it cites, each a link that opens its file."""
        if self.sources is not None:
            self.sources.setParent(None)
            self.sources.deleteLater()
        self.sources = AnswerSources(passages, opener)
        self._layout.insertWidget(self._layout.indexOf(self.error), self.sources)
        self.sources.show()  # now, not on the next turn of the event loop: the answer is already shown


def describe_timings(timings: dict) -> str:
    """'0.21 s to first token · 45.3 tokens/s · greedy' for a finished answer, '' when unknown; the
    sampling part comes from the "sampling" record the session adds (chat/sampling.py)."""
    parts = []
    first = timings.get("first_token_s")
    if isinstance(first, (int, float)) and first > 0:
        parts.append(f"{first:.2f} s to first token")
    rate = timings.get("tokens_per_s")
    if isinstance(rate, (int, float)) and rate > 0:
        parts.append(f"{rate:.1f} tokens/s")
    recorded = timings.get("sampling")
    if isinstance(recorded, dict) and sampling_record.describe(recorded):
        parts.append(sampling_record.describe(recorded))
    return " · ".join(parts)
