"""Small "chips" that name attached files: in the composer (removable) and on a sent question.

An image's chip starts with its thumbnail (decoded safely off the GUI thread, see `thumbnails`);
clicking it opens a bigger preview. On a sent question the thumbnail comes from the copy the engine
kept under the file's hash, so it still shows when the original has moved.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from assistant.prompt.attachments import Attachment, describe_size
from assistant.ui.composer import thumbnails
from assistant.ui.composer.image_preview import ImagePreview

# A symbol per kind keeps the chip short; the tooltip says it in words.
KIND_ICONS = {"audio": "♪", "image": "▣", "document": "▤"}
BROKEN_ICON = "⚠"
COMPOSER_THUMBNAIL_PX = 40
BUBBLE_THUMBNAIL_PX = 96


class AttachmentChip(QFrame):
    """One file: kind symbol or thumbnail, name, size, an optional note (progress) and an optional ×."""

    remove_requested = Signal(object)  # the Attachment

    def __init__(
        self, attachment: Attachment, removable: bool, sha256: str = "", thumbnail_px: int = 40
    ) -> None:
        super().__init__()
        self.attachment = attachment
        self.setObjectName("attachmentChip")
        self.setFrameShape(QFrame.Shape.StyledPanel)  # a visible edge in any theme, no stylesheet needed
        self.setToolTip(f"{attachment.kind_name.capitalize()}: {attachment.path}")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 4, 2)
        layout.setSpacing(4)
        self.thumbnail: QToolButton | None = None
        self.thumbnail_error = ""
        self.preview_dialog: ImagePreview | None = None
        self._thumbnail_key: str | None = None
        self._files = thumbnails.ImageFiles(None, None)
        icon = KIND_ICONS.get(attachment.kind, "•")
        if attachment.kind == "image":
            self._files = thumbnails.image_files(attachment, sha256)
            layout.addWidget(self._make_thumbnail(thumbnail_px))
            icon = ""
        self.label = QLabel(f"{icon} {attachment.name} · {describe_size(attachment.size)}".strip())
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # a name like "<b>x</b>.png" is shown as typed
        self.note = QLabel()
        self.note.setObjectName("attachmentNote")
        self.note.hide()
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

    # ---- image ---------------------------------------------------------------------------------------

    def _make_thumbnail(self, px: int) -> QToolButton:
        button = QToolButton()
        button.setObjectName("attachmentThumbnail")
        button.setAutoRaise(True)
        button.setIconSize(QSize(px, px))
        button.setMinimumSize(px + 4, px + 4)
        button.setText(KIND_ICONS["image"])
        button.setToolTip(f"Preview {self.attachment.name}")
        button.setAccessibleName(f"Preview {self.attachment.name}")
        button.clicked.connect(self.preview)
        self.thumbnail = button
        source = self._files.thumbnail
        if source is None:
            self._set_broken("The image is no longer available: it was moved or deleted.")
            return button
        loader = thumbnails.loader()
        side = 2 * px  # sharp on a high-density screen too
        image = loader.cached(source, side)
        if image is not None:
            self._set_image(image)
        else:
            loader.loaded.connect(self._on_loaded)
            loader.failed.connect(self._on_failed)
            self._thumbnail_key = loader.request(source, side)
        return button

    @property
    def has_thumbnail(self) -> bool:
        return self.thumbnail is not None and not self.thumbnail.icon().isNull()

    def preview(self) -> ImagePreview:
        """Open (or raise) the bigger look at this image."""
        if self.preview_dialog is None:
            dialog = ImagePreview(self.attachment.name, self._files.full, self.window())
            dialog.destroyed.connect(self._preview_closed)
            self.preview_dialog = dialog
        self.preview_dialog.show()
        self.preview_dialog.raise_()
        return self.preview_dialog

    def _preview_closed(self) -> None:
        self.preview_dialog = None

    def _on_loaded(self, key: str, image: QImage) -> None:
        if key == self._thumbnail_key:
            self._set_image(image)

    def _on_failed(self, key: str, message: str) -> None:
        if key == self._thumbnail_key:
            self._set_broken(message)

    def _set_image(self, image: QImage) -> None:
        assert self.thumbnail is not None
        self.thumbnail.setIcon(QIcon(QPixmap.fromImage(image)))
        self.thumbnail.setText("")

    def _set_broken(self, message: str) -> None:
        """A file the window cannot show is still attached: the engine gives the definitive message."""
        assert self.thumbnail is not None
        self.thumbnail_error = message
        self.thumbnail.setText(BROKEN_ICON)
        self.thumbnail.setToolTip(message)

    # ---- state ---------------------------------------------------------------------------------------

    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def set_locked(self, locked: bool) -> None:
        """While the file is being transcribed or read it cannot be removed (Cancel first)."""
        if self.remove_button is not None:
            self.remove_button.setEnabled(not locked)


class ChipRow(QWidget):
    """A row of chips; hidden while empty so it takes no space."""

    remove_requested = Signal(object)

    def __init__(self, removable: bool, thumbnail_px: int = COMPOSER_THUMBNAIL_PX) -> None:
        super().__init__()
        self._removable = removable
        self._thumbnail_px = thumbnail_px
        self._chips: list[AttachmentChip] = []
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._layout.addStretch(1)
        self.hide()

    def chips(self) -> list[AttachmentChip]:
        return list(self._chips)

    def set_attachments(self, attachments: Sequence[Attachment], hashes: Sequence[str] = ()) -> None:
        """`hashes[i]`: the sha256 of image `attachments[i]` once the engine kept a copy ("" if none)."""
        for chip in self._chips:
            chip.setParent(None)
            chip.deleteLater()
        self._chips = []
        for index, attachment in enumerate(attachments):
            sha256 = hashes[index] if index < len(hashes) else ""
            chip = AttachmentChip(attachment, self._removable, sha256, self._thumbnail_px)
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
