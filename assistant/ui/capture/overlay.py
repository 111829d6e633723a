"""The full-screen overlay of a capture: the frozen, dimmed screenshot, on which the user drags a
region (or clicks a window); Esc or a right click cancels.

It shows the shot taken just before it opened, not the live screen, so what is framed is exactly
what will be attached, and nothing that changes meanwhile (a notification) slips in. It covers the
whole virtual desktop, bypasses the window manager (no title bar, above everything) and grabs the
keyboard so Esc reaches it even though no window manager gave it the focus.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPoint, QRect, Qt, Signal
from PySide6.QtGui import QColor, QCursor, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from assistant.ui.capture.screen_grab import DesktopShot

REGION, WINDOW = "region", "window"
DIM = QColor(0, 0, 0, 120)
EDGE = QColor(64, 156, 255)
MIN_SIDE = 4  # a smaller drag is a slip of the mouse, not a region
HINTS = {
    REGION: "Drag to capture a region  ·  Esc cancels",
    WINDOW: "Click a window to capture it  ·  Esc cancels",
}


class CaptureOverlay(QWidget):
    """Emits `chosen(QRect)` (logical virtual-desktop coordinates) or `cancelled()`, then closes."""

    chosen = Signal(QRect)
    cancelled = Signal()

    def __init__(self, shot: DesktopShot, mode: str = REGION, windows: Sequence[QRect] = ()) -> None:
        super().__init__(None)
        self.setObjectName("captureOverlay")
        self.setWindowTitle("Capture")  # tests find it by this name (xdotool search --name)
        self.setWindowFlags(
            Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint
            | Qt.WindowType.X11BypassWindowManagerHint | Qt.WindowType.Tool
        )  # fmt: skip
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.shot = shot
        self.mode = mode
        self.windows = list(windows)  # topmost first, logical coordinates
        self._start: QPoint | None = None
        self._selection = QRect()
        self._done = False
        self.setGeometry(shot.geometry)

    # ---- what is selected --------------------------------------------------------------------------

    @property
    def selection(self) -> QRect:
        """The rectangle under the pointer or being dragged, in logical desktop coordinates."""
        return QRect(self._selection)

    def _desktop(self, local: QPoint) -> QPoint:
        return local + self.shot.geometry.topLeft()

    def _window_at(self, point: QPoint) -> QRect:
        for rect in self.windows:
            if rect.contains(point):
                return rect.intersected(self.shot.geometry)
        return QRect()

    # ---- Qt events --------------------------------------------------------------------------------

    def showEvent(self, event) -> None:  # Qt override
        super().showEvent(event)
        self.activateWindow()
        self.raise_()
        self.grabKeyboard()  # Esc must arrive although no window manager focused us
        if self.mode == WINDOW:
            self._selection = self._window_at(QCursor.pos())
            self.update()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # Qt override
        if event.key() == Qt.Key.Key_Escape:
            self._finish(None)
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self._selection.width() >= MIN_SIDE:
            self._finish(self._selection)
            return
        super().keyPressEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # Qt override
        if event.button() == Qt.MouseButton.RightButton:
            self._finish(None)
        elif event.button() == Qt.MouseButton.LeftButton and self.mode == REGION:
            self._start = self._desktop(event.position().toPoint())
            self._selection = QRect(self._start, self._start)
            self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # Qt override
        point = self._desktop(event.position().toPoint())
        if self.mode == WINDOW:
            found = self._window_at(point)
            if found != self._selection:
                self._selection = found
                self.update()
        elif self._start is not None:
            self._selection = QRect(self._start, point).normalized()
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # Qt override
        if event.button() != Qt.MouseButton.LeftButton:
            return
        point = self._desktop(event.position().toPoint())
        if self.mode == WINDOW:
            picked = self._window_at(point)
            if not picked.isEmpty():
                self._finish(picked)
            return
        if self._start is None:
            return
        region = QRect(self._start, point).normalized().intersected(self.shot.geometry)
        self._start = None
        if region.width() < MIN_SIDE or region.height() < MIN_SIDE:
            self._selection = QRect()  # a click, not a drag: wait for a real one
            self.update()
            return
        self._finish(region)

    def paintEvent(self, event: QPaintEvent) -> None:  # Qt override
        painter = QPainter(self)
        painter.drawImage(self.rect(), self.shot.image)
        local = self._selection.translated(-self.shot.geometry.topLeft())
        if local.isEmpty():
            painter.fillRect(self.rect(), DIM)
        else:
            # Dim around the selection, so what will be captured stays as bright as it is.
            full = self.rect()
            for part in (QRect(full.left(), full.top(), full.width(), local.top() - full.top()),
                         QRect(full.left(), local.bottom() + 1, full.width(), full.bottom() - local.bottom()),
                         QRect(full.left(), local.top(), local.left() - full.left(), local.height()),
                         QRect(local.right() + 1, local.top(), full.right() - local.right(), local.height())):
                if not part.isEmpty():
                    painter.fillRect(part, DIM)
            painter.setPen(QPen(EDGE, 2))
            painter.drawRect(local.adjusted(0, 0, -1, -1))
            self._label(painter, local, f"{round(local.width() * self.shot.scale)} × "
                                        f"{round(local.height() * self.shot.scale)}")
        if self._start is None:  # out of the way while a region is dragged
            self._hint(painter)
        painter.end()

    def _label(self, painter: QPainter, local: QRect, text: str) -> None:
        metrics = painter.fontMetrics()
        box = metrics.boundingRect(text).adjusted(-6, -3, 6, 3)
        box.moveTopLeft(QPoint(local.left(), max(0, local.top() - box.height() - 4)))
        painter.fillRect(box, QColor(0, 0, 0, 200))
        painter.setPen(QColor("white"))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _hint(self, painter: QPainter) -> None:
        screen = self.screen()
        area = (screen.geometry() if screen is not None else self.shot.geometry).translated(
            -self.shot.geometry.topLeft())
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        painter.setFont(font)
        text = HINTS[self.mode]
        box = painter.fontMetrics().boundingRect(text).adjusted(-14, -8, 14, 8)
        box.moveCenter(QPoint(area.center().x(), area.top() + 40))
        painter.fillRect(box, QColor(0, 0, 0, 190))
        painter.setPen(QColor("white"))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _finish(self, region: QRect | None) -> None:
        if self._done:
            return
        self._done = True
        self.releaseKeyboard()
        self.hide()
        if region is None:
            self.cancelled.emit()
        else:
            self.chosen.emit(QRect(region))
        self.close()

    def closeEvent(self, event) -> None:  # Qt override: closed another way (the window manager)
        if not self._done:
            self._done = True
            self.releaseKeyboard()
            self.cancelled.emit()
        super().closeEvent(event)
