"""What the window tests do with files: drag them in (QMimeData offscreen) and wait until all is done."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QWidget

from assistant.ui.app import AssistantApp

WAIT_MS = 120_000


def drop(widget: QWidget, mime: QMimeData) -> None:
    """A drag that enters `widget` and is dropped there."""
    center = widget.rect().center()
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(center), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the window must take a drag that carries files or pixels"
    event = QDropEvent(QPointF(center), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(widget, event)
    assert event.isAccepted()


def files(*paths: Path | str) -> QMimeData:
    """Local files as file URLs; strings go as they are (web addresses, file://server/... )."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) if isinstance(p, Path) else QUrl(p) for p in paths])
    return mime


def pixels(image: QImage, *urls: str) -> QMimeData:
    """Image data, as a browser's "Copy image" or a screenshot tool puts it on the clipboard."""
    mime = QMimeData()
    mime.setImageData(image)
    if urls:
        mime.setUrls([QUrl(url) for url in urls])
    return mime


def wait_idle(qtbot, parts: AssistantApp) -> None:
    """Until neither attachments are being read nor an answer is being written."""
    qtbot.waitUntil(
        lambda: not parts.controller.attachments.busy and parts.session.active_turn is None, timeout=WAIT_MS
    )


SUPPORT_CALL = "The customer says the backup folder cannot be opened since the update."


def support_call(folder: Path) -> Path:
    """A short espeak-ng recording to attach next to an image (skips the test without espeak-ng)."""
    import shutil
    import subprocess

    import pytest

    pytest.importorskip("faster_whisper")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng makes the speech fixture (apt-get install espeak-ng)")
    recording = folder / "support call.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(recording), SUPPORT_CALL], check=True)
    return recording
