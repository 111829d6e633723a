"""The whole desktop as one image, through Qt (X11, the test screens; Windows and macOS untested).

Every screen is grabbed with `QScreen.grabWindow(0)` and drawn where it sits on the virtual desktop,
so a region dragged across two monitors comes out whole. The image is in device pixels: on a screen
scaled 2x, a 100 x 100 region of the overlay is 200 x 200 pixels of the capture, sharp enough for OCR.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRect, QRectF
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter


class GrabFailed(Exception):
    """str() is the message for the user."""


@dataclass(frozen=True)
class DesktopShot:
    image: QImage  # the virtual desktop, device pixels
    geometry: QRect  # where it is on the virtual desktop, logical pixels
    scale: float  # device pixels per logical pixel

    def crop(self, logical: QRect) -> QImage:
        """The part of the shot under `logical` (virtual-desktop coordinates), in device pixels."""
        area = logical.intersected(self.geometry)
        if area.isEmpty():
            return QImage()
        offset = area.topLeft() - self.geometry.topLeft()
        device = QRect(
            round(offset.x() * self.scale), round(offset.y() * self.scale),
            max(1, round(area.width() * self.scale)), max(1, round(area.height() * self.scale)),
        )  # fmt: skip
        return self.image.copy(device)


def virtual_geometry() -> QRect:
    area = QRect()
    for screen in QGuiApplication.screens():
        area = area.united(screen.geometry())
    return area


def grab_desktop() -> DesktopShot:
    """Every screen, now. Raises GrabFailed when Qt returns nothing (no screen, a refused grab)."""
    screens = QGuiApplication.screens()
    if not screens:
        raise GrabFailed("Qt sees no screen to capture.")
    geometry = virtual_geometry()
    scale = max(screen.devicePixelRatio() for screen in screens)
    canvas = QImage(round(geometry.width() * scale), round(geometry.height() * scale),
                    QImage.Format.Format_RGB32)  # fmt: skip
    canvas.fill(QColor("black"))  # gaps between screens of different sizes
    grabbed = 0
    painter = QPainter(canvas)
    try:
        for screen in screens:
            pixmap = screen.grabWindow(0)
            if pixmap.isNull():
                continue
            place = screen.geometry()
            target = QRectF((place.x() - geometry.x()) * scale, (place.y() - geometry.y()) * scale,
                            place.width() * scale, place.height() * scale)  # fmt: skip
            painter.drawPixmap(target, pixmap, QRectF(pixmap.rect()))
            grabbed += 1
    finally:
        painter.end()
    if not grabbed:
        raise GrabFailed("The screen could not be grabbed (the system returned no picture).")
    return DesktopShot(canvas, geometry, scale)
