"""Read-only rich text for untrusted content (answers, transcripts) that sizes itself to its text."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QFrame, QSizePolicy, QTextBrowser

CLICKABLE_SCHEMES = ("http", "https", "mailto")


class SafeTextBrowser(QTextBrowser):
    """Shows untrusted rich text: never loads a resource, opens links only when the user clicks them."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("bubbleBody")
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.anchorClicked.connect(self._open_link)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.viewport().setAutoFillBackground(False)
        # A file dropped on the conversation goes to the window (attach it), not into read-only text.
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(self.fit_height)

    def loadResource(self, kind: int, url: QUrl) -> Any:  # Qt override
        """Refuse everything: a model answer must never make the app fetch a file or a URL."""
        return None

    def _open_link(self, url: QUrl) -> None:
        if url.scheme().lower() in CLICKABLE_SCHEMES:
            QDesktopServices.openUrl(url)  # the user clicked it: hand it to their browser / mail app

    def fit_height(self, *_: object) -> None:
        """No inner scrollbar: the bubble is as tall as its text; the chat view scrolls instead."""
        height = math.ceil(self.document().size().height()) + 2
        if height != self.height():
            self.setFixedHeight(height)

    def resizeEvent(self, event: QResizeEvent) -> None:  # Qt override
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.fit_height()

    def wheelEvent(self, event: QWheelEvent) -> None:  # Qt override
        event.ignore()  # let the surrounding chat view scroll
