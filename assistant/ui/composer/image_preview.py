"""A bigger look at an attached image: a plain dialog opened by clicking its chip.

The image is decoded like a thumbnail (safely, on the loader's thread) at most PREVIEW_SIDE pixels, so
a 40-megapixel photo never becomes a 160 MB pixmap in the window process.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QScrollArea, QVBoxLayout, QWidget

from assistant.ui.composer import thumbnails

PREVIEW_SIDE = 1600
MISSING = "This image is no longer available: its file was moved or deleted, and no copy was kept."


class ImagePreview(QDialog):
    """Non-modal: the user may keep it open while typing the question about it."""

    def __init__(self, name: str, path: Path | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imagePreview")
        self.setWindowTitle(name)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.picture = QLabel("Loading…")
        self.picture.setObjectName("imagePreviewPicture")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setWordWrap(True)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.picture)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(buttons)
        self.resize(900, 650)
        self._key: str | None = None
        if path is None:
            self.picture.setText(MISSING)
            return
        loader = thumbnails.loader()
        image = loader.cached(path, PREVIEW_SIDE)
        if image is not None:
            self._show(image)
            return
        loader.loaded.connect(self._on_loaded)
        loader.failed.connect(self._on_failed)
        self._key = loader.request(path, PREVIEW_SIDE)

    @property
    def shown(self) -> bool:
        """True once the picture (not a message) is on screen."""
        return not self.picture.pixmap().isNull()

    def _on_loaded(self, key: str, image: QImage) -> None:
        if key == self._key:
            self._show(image)

    def _on_failed(self, key: str, message: str) -> None:
        if key == self._key:
            self.picture.setText(message)

    def _show(self, image: QImage) -> None:
        self.picture.setPixmap(QPixmap.fromImage(image))
