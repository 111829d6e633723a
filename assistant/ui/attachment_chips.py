"""Small "chips" that name attached files: in the composer (removable) and on a sent question."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from assistant.attachments import Attachment, describe_size

# A symbol per kind keeps the chip short; the tooltip says it in words.
KIND_ICONS = {"audio": "♪", "image": "▣"}


class AttachmentChip(QFrame):
    """One file: kind symbol, name, size, an optional note (progress) and an optional × to remove it."""

    remove_requested = Signal(object)  # the Attachment

    def __init__(self, attachment: Attachment, removable: bool) -> None:
        super().__init__()
        self.attachment = attachment
        self.setObjectName("attachmentChip")
        self.setFrameShape(QFrame.Shape.StyledPanel)  # a visible edge in any theme, no stylesheet needed
        self.setToolTip(f"{attachment.kind_name.capitalize()}: {attachment.path}")
        icon = KIND_ICONS.get(attachment.kind, "•")
        self.label = QLabel(f"{icon} {attachment.name} · {describe_size(attachment.size)}")
        self.note = QLabel()
        self.note.setObjectName("attachmentNote")
        self.note.hide()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 4, 2)
        layout.setSpacing(4)
        layout.addWidget(self.label)
        layout.addWidget(self.note)
        self.remove_button: QToolButton | None = None
        if removable:
            button = QToolButton()
            button.setObjectName("attachmentRemove")
            button.setText("×")
            button.setAutoRaise(True)
            button.setToolTip(f"Remove {attachment.name}")
            button.setAccessibleName(f"Remove {attachment.name}")
            button.clicked.connect(lambda: self.remove_requested.emit(self.attachment))
            layout.addWidget(button)
            self.remove_button = button

    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def set_locked(self, locked: bool) -> None:
        """While the file is being transcribed it cannot be removed (Cancel first)."""
        if self.remove_button is not None:
            self.remove_button.setEnabled(not locked)


class ChipRow(QWidget):
    """A row of chips; hidden while empty so it takes no space."""

    remove_requested = Signal(object)

    def __init__(self, removable: bool) -> None:
        super().__init__()
        self._removable = removable
        self._chips: list[AttachmentChip] = []
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._layout.addStretch(1)
        self.hide()

    def chips(self) -> list[AttachmentChip]:
        return list(self._chips)

    def set_attachments(self, attachments: Sequence[Attachment]) -> None:
        for chip in self._chips:
            chip.setParent(None)
            chip.deleteLater()
        self._chips = []
        for attachment in attachments:
            chip = AttachmentChip(attachment, self._removable)
            chip.remove_requested.connect(self.remove_requested)
            self._layout.insertWidget(self._layout.count() - 1, chip)
            self._chips.append(chip)
        self.setVisible(bool(self._chips))

    def set_note(self, index: int | None, text: str) -> None:
        """Show `text` on chip `index` and clear the others (one file is worked on at a time)."""
        for position, chip in enumerate(self._chips):
            chip.set_note(text if position == index else "")

    def set_locked(self, locked: bool) -> None:
        for chip in self._chips:
            chip.set_locked(locked)
