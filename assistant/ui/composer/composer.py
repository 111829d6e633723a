"""Where the user writes: Enter sends, Shift+Enter adds a line, Esc stops the answer.

Files can be attached too (the Attach button, a drop, or pasting copied files or image data): each is
checked by `assistant.prompt.attachments` and shown as a chip with a × to remove it (an image's chip shows its
thumbnail; click it for a bigger preview); a refused one gets a message and is never opened. The
draft and the attachments are never cleared here on send: the controller clears them only once the
question is saved, so a full disk, a corrupt recording or image, or a cancelled transcription never
costs the user what they typed or attached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QImage, QKeyEvent, QTextOption
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from assistant.prompt import attachments as attachments_module
from assistant.prompt.attachments import SUPPORTED_KINDS, Attachment, AttachmentRefused
from assistant.ui.composer.attachment_chips import ChipRow
from assistant.ui.composer.pasted_images import PasteRefused, mime_image, save_pasted

# Beyond this many characters the "is it only whitespace?" check is skipped on each keystroke (it would
# copy the whole document every time); sending still refuses a blank question.
CHEAP_CHECK_CHARS = 10_000
# Qt's default wrapping (word boundary, else anywhere) is quadratic on one long unbroken line: a 1 MB
# paste of minified JSON froze the editor for over a minute. Plain character wrapping stays linear
# (1 MB in under a second), so big drafts switch to it.
LARGE_DRAFT_CHARS = 50_000
PLACEHOLDER = "Ask a question…  (Enter to send, Shift+Enter for a new line)"
# Enough for "these three interviews and my notes"; more would not fit any context window anyway.
MAX_ATTACHMENTS = 8


def pick_files(parent: QWidget) -> list[str]:
    """The system's file dialog, filtered to what can be attached (tests replace it)."""

    def patterns(kinds: Iterable[str]) -> str:
        return " ".join(f"*{ext}" for ext in attachments_module.extensions_for(kinds))

    filters = ";;".join([
        f"Recordings, images and documents ({patterns(SUPPORTED_KINDS)})",
        f"Images ({patterns(['image'])})",
        f"Recordings ({patterns(['audio'])})",
        f"Documents ({patterns(['document'])})",
        "All files (*)",
    ])
    paths, _ = QFileDialog.getOpenFileNames(parent, "Attach recordings, images or documents", "", filters)
    return paths


class ComposerEdit(QPlainTextEdit):
    submitted = Signal()
    stop_requested = Signal()
    files_pasted = Signal(list)  # encoded file:// URLs of files copied in a file manager
    image_pasted = Signal(QImage)  # image data (a screenshot tool, "Copy image" in a browser)

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

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # Qt override: enables paste
        # Some file managers copy files as a bare URL list, with no text: still worth a paste. A screenshot
        # tool copies only image data.
        return super().canInsertFromMimeData(source) or source.hasUrls() or source.hasImage()

    def insertFromMimeData(self, source: QMimeData) -> None:  # Qt override: paste and drop
        urls = source.urls() if source.hasUrls() else []
        if urls and all(url.isLocalFile() for url in urls):
            # Copied files: attach them. A copied web link still pastes as text.
            self.files_pasted.emit([bytes(url.toEncoded().data()).decode("utf-8", "replace") for url in urls])
            return
        if source.hasImage():
            # Pixels, perhaps with a web link or HTML beside them: the picture is what was meant.
            self.image_pasted.emit(mime_image(source))
            return
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
    """Emits `submitted(text)` with the draft and `stop_requested()`; shows errors about the draft.

    `submitted` also fires with an empty draft when files are attached (a default question is asked).
    """

    submitted = Signal(str)
    stop_requested = Signal()
    attachments_changed = Signal()
    attachment_refused = Signal(str)  # why one or more files were not attached

    def __init__(self) -> None:
        super().__init__()
        self._streaming = False
        self._busy = False
        self._attachments: list[Attachment] = []
        self._tools: list[QWidget] = []  # beside Attach… (the Capture button)
        # Replaced in tests: a real dialog would block an offscreen run.
        self.file_picker: Callable[[QWidget], list[str]] = pick_files
        self.editor = ComposerEdit()
        self.editor.setFixedHeight(84)
        self.chips = ChipRow(removable=True)
        self.attach_button = QPushButton("Attach…")
        self.attach_button.setObjectName("attachButton")
        self.attach_button.setToolTip(
            "Attach recordings, images or documents (or drop them on the window, or paste)")
        self.button = QPushButton("Send")
        self.button.setObjectName("sendButton")
        self.button.setMinimumWidth(84)
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)  # refusals name files: markup in a name stays text
        self.error.setObjectName("composerError")
        self.error.setWordWrap(True)
        self.error.hide()

        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(4)
        column.addWidget(self.chips)
        column.addWidget(self.editor)
        # Layout contract: item 1 of this widget's layout is `row`, and push-to-talk inserts its mic at
        # position 1 of `row`, between the editor column and the buttons.
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addLayout(column, 1)
        row.addWidget(self.attach_button, 0, Qt.AlignmentFlag.AlignBottom)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignBottom)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 4, 16, 12)
        layout.addWidget(self.error)
        layout.addLayout(row)

        self.chips.remove_requested.connect(self.remove_attachment)
        self.attach_button.clicked.connect(self.pick)
        self.editor.files_pasted.connect(self.add_uris)
        self.editor.image_pasted.connect(self.add_image)
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
        """The question was saved: its text and its attachments are in the history now."""
        self.editor.clear()
        self.clear_attachments()

    # ---- attachments -----------------------------------------------------------------------------

    def attachments(self) -> list[Attachment]:
        return list(self._attachments)

    def pick(self) -> None:
        """The Attach button: choose files in the system's dialog."""
        if not self._refuse_while_busy():
            self.add_paths(self.file_picker(self))

    def add_paths(self, paths: Iterable[str]) -> list[Attachment]:
        return self._add(paths, attachments_module.from_path)

    def add_uris(self, uris: Iterable[str]) -> list[Attachment]:
        """Dropped or pasted items (file:// URLs, or anything else a drag can carry)."""
        return self._add(uris, attachments_module.from_uri)

    def add_image(self, image: QImage, prefix: str = "pasted") -> list[Attachment]:
        """Pasted or dropped image data, or a capture (`prefix` "screenshot" or "photo"): saved as a
        PNG in the data folder's cache, then attached."""
        if self._refuse_while_busy():
            return []
        try:
            path = save_pasted(image, prefix=prefix)
        except PasteRefused as refused:
            self._report([str(refused)])
            return []
        return self.add_paths([str(path)])

    def add_tool(self, button: QWidget) -> None:
        """Another way in beside Attach… (the Capture button); disabled with it while files are read."""
        row = self.layout().itemAt(1).layout()  # the row of the editor and its buttons (see __init__)
        row.insertWidget(row.indexOf(self.attach_button), button, 0, Qt.AlignmentFlag.AlignBottom)
        self._tools.append(button)

    def refuse_while_busy(self) -> bool:
        """True (and the reason shown) while attachments are read: nothing can be added meanwhile."""
        return self._refuse_while_busy()

    def remove_attachment(self, attachment: Attachment) -> None:
        if self._busy or attachment not in self._attachments:
            return
        self._attachments.remove(attachment)
        self._attachments_updated()

    def clear_attachments(self) -> None:
        if self._attachments:
            self._attachments.clear()
            self._attachments_updated()

    def set_attachment_note(self, index: int | None, text: str) -> None:
        """Progress on the chip being worked on ("42%", "part 2/5"); None clears every chip."""
        self.chips.set_note(index, text)

    def set_busy(self, busy: bool) -> None:
        """While attachments are read: the button cancels, and draft and files stay as sent."""
        self._busy = busy
        self.editor.setReadOnly(busy)
        self.chips.set_locked(busy)
        self.attach_button.setEnabled(not busy)
        for tool in self._tools:
            tool.setEnabled(not busy)
        if not busy:
            self.chips.set_note(None, "")
        self.set_streaming(busy, stop_text="Cancel" if busy else "Stop")

    @property
    def busy(self) -> bool:
        return self._busy

    def _add(self, items: Iterable[str], check: Callable[[str], Attachment]) -> list[Attachment]:
        items = [item for item in items if item]
        if not items or self._refuse_while_busy():
            return []
        added: list[Attachment] = []
        problems: list[str] = []
        for item in items:
            try:
                attachment = check(item)
            except AttachmentRefused as refused:
                problems.append(str(refused))
                continue
            if any(a.path == attachment.path for a in self._attachments):
                continue  # dropped twice: once is enough
            if len(self._attachments) >= MAX_ATTACHMENTS:
                limit = f"at most {MAX_ATTACHMENTS} files per question"
                problems.append(f"Cannot attach {attachment.name}: {limit}.")
                continue
            self._attachments.append(attachment)
            added.append(attachment)
        if added:
            self._attachments_updated()
        if problems:
            self._report(problems)
        elif added:
            self.clear_error()
        return added

    def _report(self, problems: list[str]) -> None:
        message = "\n".join(problems)
        self.show_error(message)
        self.attachment_refused.emit(message)

    def _refuse_while_busy(self) -> bool:
        if self._busy:
            self._report(["Wait for the attachments to be read (or press Cancel) before attaching more."])
        return self._busy

    def _attachments_updated(self) -> None:
        self.chips.set_attachments(self._attachments)
        self._update_button()
        self.attachments_changed.emit()

    # ---- sending ---------------------------------------------------------------------------------

    def set_streaming(self, streaming: bool, stop_text: str = "Stop") -> None:
        """While an answer streams the button stops it; Enter still submits (the controller refuses).

        `stop_text` names what the button stops ("Cancel" while a recording is transcribed).
        """
        self._streaming = streaming
        self.button.setText(stop_text if streaming else "Send")
        what = "the answer" if stop_text == "Stop" else "reading the attachments"
        self.button.setToolTip(f"{stop_text} {what} (Esc)" if streaming else "Send (Enter)")
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
        if self.has_text() or self._attachments:
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
        self.button.setEnabled(self._streaming or self.has_text() or bool(self._attachments))
