"""One screen capture, start to end: step aside, grab, let the user frame it, come back.

The window never captures itself: it and every window it owns (dialogs, previews) are hidden first,
and the grab waits `STEP_ASIDE_MS` for the window system (a compositor fades windows out) before it
reads the screen. Then:
- *Full screen*: the shot is the capture;
- *Region*: the overlay shows the frozen shot, dimmed, and the user drags a rectangle;
- *Window*: the overlay highlights the window under the pointer (X11's top-level windows, listed
  with the shot; on the offscreen test screen, this process's own windows) and a click takes it.
On Wayland every mode goes through the desktop portal instead (region and window interactively, in
the desktop's dialog). Whatever happens (a capture, Esc, a failure) the hidden windows come back, and
after a capture the main window comes forward even if it was minimised, so the question can be typed.

Nothing is written here: the image goes out with `captured` and the composer decides what to keep.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QRect, Qt, QTimer, Signal
from PySide6.QtDBus import QDBusConnection
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QWidget

from assistant.ui.capture.overlay import REGION, WINDOW, CaptureOverlay
from assistant.ui.capture.portal import PortalScreenshot
from assistant.ui.capture.screen_grab import DesktopShot, GrabFailed, grab_desktop
from assistant.ui.capture.support import PORTAL, CaptureSupport, capture_support

logger = logging.getLogger(__name__)

SCREEN = "screen"
MODES = (REGION, WINDOW, SCREEN)
# Long enough for a compositor's fade-out (GNOME and KDE animate ~150-250 ms); an X server without a
# compositor needs none. Tests shorten it.
STEP_ASIDE_MS = 350
# The desktop's screenshot dialog waits for the user, but not for ever: the window is hidden meanwhile.
PORTAL_TIMEOUT_MS = 120_000
WINDOW_PICK_UNSUPPORTED = "Picking a window works on X11 only here; drag a region around it instead."


class ScreenCapture(QObject):
    """Emits one of `captured(QImage, mode)`, `failed(str)`, `cancelled()` per `start`, after the
    hidden windows are back."""

    captured = Signal(QImage, str)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, window: QWidget, platform_name: str | None = None, step_aside_ms: int = STEP_ASIDE_MS):
        super().__init__(window)
        self.window = window
        self._platform_name = platform_name
        self.step_aside_ms = step_aside_ms
        self.mode = ""
        self.overlay: CaptureOverlay | None = None
        self.portal: PortalScreenshot | None = None
        self.portal_bus: QDBusConnection | None = None  # None: the session bus (tests use a private one)
        self._hidden: list[QWidget] = []
        self._window_was_minimised = False
        self._busy = False
        self._portal_timer = QTimer(self)
        self._portal_timer.setSingleShot(True)
        self._portal_timer.timeout.connect(self._portal_timed_out)

    @property
    def busy(self) -> bool:
        return self._busy

    def support(self) -> CaptureSupport:
        name = self._platform_name if self._platform_name is not None else QGuiApplication.platformName()
        return capture_support(name)

    def start(self, mode: str) -> bool:
        """Begin a capture; False (and `failed` with the reason) when it cannot, or one is running."""
        if mode not in MODES:
            raise ValueError(mode)
        if self._busy:
            return False
        support = self.support()
        if not support.available:
            self.failed.emit(support.reason)
            return False
        if mode == WINDOW and support.method != PORTAL and not support.window_pick:
            self.failed.emit(WINDOW_PICK_UNSUPPORTED)
            return False
        self._busy, self.mode = True, mode
        self._step_aside()
        if support.method == PORTAL:
            QTimer.singleShot(self.step_aside_ms, self._ask_portal)
        else:
            QTimer.singleShot(self.step_aside_ms, self._grab)
        return True

    def cancel(self) -> None:
        """Give up on the capture under way (the window is closing)."""
        if self.overlay is not None:
            self.overlay.close()
        elif self.portal is not None and self.portal.pending:
            self.portal.close()
            self._end("cancelled")

    # ---- Qt grab -----------------------------------------------------------------------------------

    def _grab(self) -> None:
        try:
            shot = grab_desktop()
        except GrabFailed as error:
            self._end("failed", str(error))
            return
        if self.mode == SCREEN:
            self._end("captured", shot.image)
            return
        windows: list[QRect] = []
        if self.mode == WINDOW:
            try:
                windows = self._window_rects(shot)
            except Exception as error:  # X11Error or a missing libX11: say so, nothing captured
                logger.warning("Windows could not be listed: %s", error)
                self._end("failed", f"The windows on the screen could not be listed: {error}")
                return
        overlay = CaptureOverlay(shot, self.mode, windows)
        overlay.chosen.connect(lambda rect: self._chosen(shot, rect))
        overlay.cancelled.connect(lambda: self._end("cancelled"))
        self.overlay = overlay
        overlay.show()

    def _window_rects(self, shot: DesktopShot) -> list[QRect]:
        """Top-level windows, topmost first, in logical desktop coordinates."""
        if QGuiApplication.platformName() == "xcb":
            from assistant.ui.capture.x11_windows import top_level_windows  # ctypes: X11 only

            scale = shot.scale  # X11 speaks device pixels; the overlay logical ones
            return [QRect(round(w.x / scale), round(w.y / scale), round(w.width / scale),
                          round(w.height / scale)) for w in top_level_windows()]  # fmt: skip
        # The offscreen test screen shows only this process's windows: those are the ones to pick.
        return [w.geometry() for w in reversed(QGuiApplication.topLevelWindows())
                if w.isVisible() and w.type() != Qt.WindowType.ToolTip]  # fmt: skip

    def _chosen(self, shot: DesktopShot, rect: QRect) -> None:
        image = shot.crop(rect)
        if image.isNull():
            self._end("failed", "The chosen area is outside the screen.")
        else:
            self._end("captured", image)

    # ---- portal (Wayland) --------------------------------------------------------------------------

    def _ask_portal(self) -> None:
        portal = PortalScreenshot(self, self.portal_bus)
        portal.finished.connect(lambda image: self._end("captured", image))
        portal.failed.connect(lambda message: self._end("failed", f"No screenshot: {message}."))
        portal.cancelled.connect(lambda: self._end("cancelled"))
        self.portal = portal
        self._portal_timer.start(PORTAL_TIMEOUT_MS)  # owned by this object: it dies with the window
        portal.start(interactive=self.mode != SCREEN)

    def _portal_timed_out(self) -> None:
        portal = self.portal
        if portal is not None and portal.pending:
            portal.close()
            self._end("failed", "No screenshot: the desktop's screenshot dialog did not answer in time.")

    # ---- stepping aside and back --------------------------------------------------------------------

    def _step_aside(self) -> None:
        window = self.window
        self._window_was_minimised = window.isMinimized()
        self._hidden = [w for w in QApplication.topLevelWidgets() if w.isVisible() and _owned_by(w, window)]
        for widget in self._hidden:
            widget.hide()
        logger.info("Capture (%s): %d windows stepped aside", self.mode, len(self._hidden))

    def _come_back(self, captured: bool) -> None:
        for widget in self._hidden:
            if widget is not self.window:
                widget.show()
        window = self.window
        if window in self._hidden or captured:
            if captured and self._window_was_minimised:
                window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
            window.show()
            if captured:
                window.raise_()
                window.activateWindow()
        self._hidden = []

    def _end(self, outcome: str, value: QImage | str | None = None) -> None:
        if not self._busy:
            return
        self._busy = False
        self._portal_timer.stop()
        self.overlay = None
        self.portal = None
        self._come_back(outcome == "captured")
        logger.info("Capture (%s) %s", self.mode, outcome)
        if outcome == "captured" and isinstance(value, QImage):
            self.captured.emit(value, self.mode)
        elif outcome == "failed":
            self.failed.emit(str(value))
        else:
            self.cancelled.emit()


def _owned_by(widget: QWidget, window: QWidget) -> bool:
    """The main window itself, or a window whose parent chain leads to it (dialogs, previews)."""
    current: QWidget | None = widget
    while current is not None:
        if current is window:
            return True
        current = current.parentWidget()
    return False
