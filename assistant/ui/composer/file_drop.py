"""Files dragged onto the window or the composer: every URL is handed on, none is opened here.

An event filter rather than overridden drag handlers, so one object serves the window and the composer's
editor (whose own handler would otherwise paste a file:// URL into the draft as text). Every drag that
carries URLs is accepted, including web addresses and folders: the user then gets a message saying why
one was refused (`assistant.prompt.attachments`) instead of a silent "no entry" cursor.

A picture dragged out of another program (a browser, an image viewer) may carry its pixels as well as
a web address: when no local file comes with it, the pixels are attached (`image_dropped`) rather than
refusing the address.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QMimeData, QObject, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QImage

from assistant.ui.composer.pasted_images import mime_image


def dropped_uris(mime: QMimeData) -> list[str]:
    """The dropped items as encoded URL text (file:///… with %20 etc.), for the core to check."""
    return [bytes(url.toEncoded().data()).decode("utf-8", "replace") for url in mime.urls()]


def dropped_image(mime: QMimeData) -> QImage | None:
    """The pixels of a drop that brings no local file, else None (files go through `dropped_uris`)."""
    if not mime.hasImage() or any(url.isLocalFile() for url in mime.urls()):
        return None
    return mime_image(mime)


class FileDrop(QObject):
    """Install on every widget that should take dropped files; `dropped` carries the URLs."""

    dropped = Signal(list)  # list[str]
    image_dropped = Signal(QImage)

    def watch(self, widget: QObject) -> None:
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt override
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            assert isinstance(event, (QDragEnterEvent, QDragMoveEvent))
            if event.mimeData().hasUrls() or event.mimeData().hasImage():
                event.acceptProposedAction()
                return True
        elif kind == QEvent.Type.Drop:
            assert isinstance(event, QDropEvent)
            mime = event.mimeData()
            image = dropped_image(mime)
            if image is not None:
                event.acceptProposedAction()
                self.image_dropped.emit(image)
                return True
            if mime.hasUrls():
                event.acceptProposedAction()
                self.dropped.emit(dropped_uris(mime))
                return True
        return False
