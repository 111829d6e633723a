"""Where the user writes: Enter sends, Shift+Enter adds a line, Esc stops the answer.

The draft is never cleared here on send: the controller clears it only once the question is saved, so a
full disk or a too-long question never costs the user what they typed.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QKeyEvent, QTextOption
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

# Beyond this many characters the "is it only whitespace?" check is skipped on each keystroke (it would
# copy the whole document every time); sending still refuses a blank question.
CHEAP_CHECK_CHARS = 10_000
# Qt's default wrapping (word boundary, else anywhere) is quadratic on one long unbroken line: a 1 MB
# paste of minified JSON froze the editor for over a minute. Plain character wrapping stays linear
# (1 MB in under a second), so big drafts switch to it.
LARGE_DRAFT_CHARS = 50_000
PLACEHOLDER = "Ask a question…  (Enter to send, Shift+Enter for a new line)"


class ComposerEdit(QPlainTextEdit):
    submitted = Signal()
    stop_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("composerEdit")
        self.setPlaceholderText(PLACEHOLDER)
        self.setTabChangesFocus(True)

    def prepare_for(self, added_chars: int) -> None:
        """Pick the wrap mode before a big insert, so the insert itself is laid out the cheap way."""
        large = self.document().characterCount() + added_chars > LARGE_DRAFT_CHARS
        mode = (
            QTextOption.WrapMode.WrapAnywhere if large else QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere
        )
        if self.wordWrapMode() != mode:
            self.setWordWrapMode(mode)

    def insertFromMimeData(self, source: QMimeData) -> None:  # Qt override: paste and drop
        if source.hasText():
            self.prepare_for(len(source.text()))
        super().insertFromMimeData(source)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # Qt override
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            else:
                self.submitted.emit()
            event.accept()
            return
        if key == Qt.Key.Key_Escape:
            self.stop_requested.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class Composer(QWidget):
    """Emits `submitted(text)` with the draft and `stop_requested()`; shows errors about the draft."""

    submitted = Signal(str)
    stop_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._streaming = False
        self.editor = ComposerEdit()
        self.editor.setFixedHeight(84)
        self.button = QPushButton("Send")
        self.button.setObjectName("sendButton")
        self.button.setMinimumWidth(84)
        self.error = QLabel()
        self.error.setObjectName("composerError")
        self.error.setWordWrap(True)
        self.error.hide()

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.editor, 1)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignBottom)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 4, 16, 12)
        layout.addWidget(self.error)
        layout.addLayout(row)

        self.editor.submitted.connect(self._submit)
        self.editor.stop_requested.connect(self.stop_requested)
        self.editor.textChanged.connect(self._on_text_changed)
        self.button.clicked.connect(self._on_button)
        self._update_button()

    @property
    def streaming(self) -> bool:
        return self._streaming

    def draft(self) -> str:
        return self.editor.toPlainText()

    def set_draft(self, text: str) -> None:
        self.editor.prepare_for(len(text))
        self.editor.setPlainText(text)

    def clear_draft(self) -> None:
        self.editor.clear()

    def set_streaming(self, streaming: bool) -> None:
        """While an answer streams the button stops it; Enter still submits (the controller refuses)."""
        self._streaming = streaming
        self.button.setText("Stop" if streaming else "Send")
        self.button.setToolTip("Stop the answer (Esc)" if streaming else "Send (Enter)")
        self.button.setProperty("streaming", "true" if streaming else "false")
        self.button.style().unpolish(self.button)  # re-apply the stylesheet for the new property
        self.button.style().polish(self.button)
        self._update_button()

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    def clear_error(self) -> None:
        self.error.clear()
        self.error.hide()

    def error_text(self) -> str:
        return self.error.text() if not self.error.isHidden() else ""

    def has_text(self) -> bool:
        document = self.editor.document()
        if document.characterCount() > CHEAP_CHECK_CHARS:
            return True
        return bool(self.editor.toPlainText().strip())

    def _submit(self) -> None:
        if self.has_text():
            self.submitted.emit(self.draft())

    def _on_button(self) -> None:
        if self._streaming:
            self.stop_requested.emit()
        else:
            self._submit()

    def _on_text_changed(self) -> None:
        if self.editor.wordWrapMode() == QTextOption.WrapMode.WrapAnywhere:
            self.editor.prepare_for(0)  # back to word wrapping once the big text is gone
        if not self.error.isHidden():
            self.clear_error()
        self._update_button()

    def _update_button(self) -> None:
        self.button.setEnabled(self._streaming or self.has_text())
