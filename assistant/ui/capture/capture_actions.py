"""The window's way in for captures: a Capture button beside Attach…, File ▸ Capture, and the key.

*Region* (the capture key, Ctrl+Alt+A by default), *Window*, *Full screen* and *Camera photo…*. A
capture becomes an attachment exactly like a pasted screenshot: a PNG hand-over file named by its
hash (`screenshot-….png`, `photo-….png`), a chip with its thumbnail, read (OCR, CLIP labels) by the
engine at once; the image library keeps it only once the question is sent, and a draft dropped
without sending takes its files with it (`composer.draft_files`).

Nothing heavy is imported until the first capture: the screen grab, the overlay and D-Bus load on the
first use, Qt Multimedia when the menu first opens (to say whether there is a camera).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QImage, QKeySequence
from PySide6.QtWidgets import QMenu, QToolButton

from assistant.settings import Settings

if TYPE_CHECKING:
    from assistant.ui.capture.screen_capture import ScreenCapture
    from assistant.ui.main_window import MainWindow

logger = logging.getLogger(__name__)

REGION, WINDOW, SCREEN = "region", "window", "screen"  # the modes of screen_capture
CANCELLED = "Capture cancelled: nothing was attached."


class WindowCapture(QObject):
    """Owns the capture actions and turns each capture into a composer chip."""

    def __init__(
        self, window: MainWindow, settings: Callable[[], Settings], platform_name: str | None = None
    ) -> None:
        super().__init__(window)
        self.window = window
        self._settings = settings
        self._platform_name = platform_name
        self._capture: ScreenCapture | None = None
        self.captured_at = 0.0  # perf_counter of the last capture's arrival (the benchmark reads it)
        self.region_action = QAction("&Region…", window)
        self.region_action.setToolTip("Drag a rectangle on the screen; Esc cancels")
        self.window_action = QAction("&Window…", window)
        self.window_action.setToolTip("Click a window to capture it; Esc cancels")
        self.screen_action = QAction("&Full screen", window)
        self.camera_action = QAction("&Camera photo…", window)
        self.region_action.triggered.connect(lambda: self.start(REGION))
        self.window_action.triggered.connect(lambda: self.start(WINDOW))
        self.screen_action.triggered.connect(lambda: self.start(SCREEN))
        self.camera_action.triggered.connect(self.take_photo)
        self.menu = QMenu("&Capture", window)
        for action in (self.region_action, self.window_action, self.screen_action):
            self.menu.addAction(action)
        self.menu.addSeparator()
        self.menu.addAction(self.camera_action)
        self.menu.setToolTipsVisible(True)
        self.menu.aboutToShow.connect(self.refresh)
        entries = window.file_menu.actions()
        after_attach = entries.index(window.attach_action) + 1
        window.file_menu.insertMenu(entries[after_attach] if after_attach < len(entries) else None, self.menu)
        self.button = QToolButton()
        self.button.setObjectName("captureButton")
        self.button.setText("Capture")
        self.button.setToolTip("Capture the screen, a window or a camera photo into the question")
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.button.setMenu(self.menu)
        window.composer.add_tool(self.button)
        self.sync()

    @property
    def capture(self) -> ScreenCapture:
        """The capture machinery, built on first use (it loads the grab, the overlay and QtDBus)."""
        if self._capture is None:
            from assistant.ui.capture.screen_capture import ScreenCapture

            capture = ScreenCapture(self.window, self._platform_name)
            capture.captured.connect(self._captured)
            capture.failed.connect(self._failed)
            capture.cancelled.connect(lambda: self.window.status.show_info(CANCELLED))
            self._capture = capture
        return self._capture

    def sync(self) -> None:
        """The region key follows the settings."""
        self.region_action.setShortcut(QKeySequence(self._settings().capture_key))

    def refresh(self) -> None:
        """Before the menu shows: each entry enabled where it can work, else disabled with the reason."""
        from assistant.ui.capture.camera import camera_availability
        from assistant.ui.capture.support import PORTAL, capture_support

        support = capture_support(self._platform_name or _platform())
        for action in (self.region_action, self.window_action, self.screen_action):
            action.setEnabled(support.available)
            if not support.available:
                action.setToolTip(support.reason)
        if support.available and support.method != PORTAL and not support.window_pick:
            self.window_action.setEnabled(False)
            self.window_action.setToolTip("Picking a window works on X11 only; capture a region instead.")
        ok, why = camera_availability()
        self.camera_action.setEnabled(ok)
        self.camera_action.setToolTip(why)
        self.camera_action.setText("&Camera photo…" if ok else "&Camera photo (unavailable)")

    def start(self, mode: str) -> bool:
        """A screen capture (the menu, the key, the global key); False when it cannot start now."""
        if self.window.composer.refuse_while_busy():
            return False
        return self.capture.start(mode)

    def take_photo(self) -> bool:
        """Camera photo…: the dialog when a camera can be used, else the reason, and nothing hangs."""
        from assistant.ui.capture.camera import CameraDialog, camera_availability

        if self.window.composer.refuse_while_busy():
            return False
        ok, why = camera_availability()
        if not ok:
            self._failed(why)
            return False
        dialog = CameraDialog(self.window)
        accepted = dialog.exec() == CameraDialog.DialogCode.Accepted and not dialog.photo.isNull()
        photo = QImage(dialog.photo)
        dialog.deleteLater()
        if accepted:
            self._captured(photo, "photo")
        return accepted

    def _captured(self, image: QImage, mode: str) -> None:
        self.captured_at = time.perf_counter()
        added = self.window.composer.add_image(image, prefix="photo" if mode == "photo" else "screenshot")
        if added:
            what = "photo" if mode == "photo" else f"{mode} capture"
            self.window.status.show_info(f"Attached the {what} ({image.width()} × {image.height()}).")
            self.window.composer.editor.setFocus()

    def _failed(self, message: str) -> None:
        self.window.composer.show_error(message)
        self.window.status.show_error(message)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.cancel()


def _platform() -> str:
    from PySide6.QtGui import QGuiApplication

    return QGuiApplication.platformName()
