"""The app's icon for windows, the taskbar and dialogs, from the PNGs rendered out of
resources/icons/assistant.svg (packaging/render_icons.py).

PNGs rather than the SVG: Qt would load its SVG icon engine plugin at start-up for a picture that
never changes, and the window has to be on screen within a second. Each size is added by file name,
so Qt reads only the sizes a platform actually asks for, when it asks.
"""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon

from assistant.resources_path import resource_path

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def app_icon() -> QIcon:
    """Every rendered size of the icon; a null icon (Qt's default) if the files are missing."""
    icon = QIcon()
    for size in ICON_SIZES:
        path = resource_path("icons", f"assistant-{size}.png")
        if path.is_file():
            icon.addFile(str(path), QSize(size, size))
    return icon
