"""Files dragged onto the window or the composer: every URL is handed on, none is opened here.

An event filter rather than overridden drag handlers, so one object serves the window and the composer's
editor (whose own handler would otherwise paste a file:// URL into the draft as text). Every drag that
carries URLs is accepted, including web addresses and folders: the user then gets a message saying why
one was refused (`assistant.attachments`) instead of a silent "no entry" cursor.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QMimeData, QObject, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent


def dropped_uris(mime: QMimeData) -> list[str]:
    """The dropped items as encoded URL text (file:///… with %20 etc.), for the core to check."""
    return [bytes(url.toEncoded().data()).decode("utf-8", "replace") for url in mime.urls()]


class FileDrop(QObject):
    """Install on every widget that should take dropped files; `dropped` carries the URLs."""

    dropped = Signal(list)  # list[str]

    def watch(self, widget: QObject) -> None:
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt override
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            assert isinstance(event, (QDragEnterEvent, QDragMoveEvent))
            if event.mimeData().hasUrls():
                event.acceptProposedAction()
                return True
        elif kind == QEvent.Type.Drop:
            assert isinstance(event, QDropEvent)
            if event.mimeData().hasUrls():
                event.acceptProposedAction()
                self.dropped.emit(dropped_uris(event.mimeData()))
                return True
        return False
