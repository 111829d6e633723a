"""The whole screen into a PNG file, for the command line (`describe --screen`, `ask --screen`).

It runs in the command's own process, which has no window: on X11 a QGuiApplication on the `xcb`
platform grabs every screen (whatever QT_QPA_PLATFORM says: `offscreen` has nothing to capture), after
libX11 confirmed the display opens (Qt aborts the whole process when it cannot connect); on Wayland
(WAYLAND_DISPLAY set, XWayland included) the desktop portal is asked, non-interactively, and the
desktop may ask the user to confirm; on Windows and macOS Qt grabs the screen (untested). Without a
display the caller gets the reason before any Qt is loaded (`support.display_problem`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QGuiApplication, QImage

from assistant.ui.capture.support import display_problem


class ScreenCaptureError(Exception):
    """str() is the reason, for the command's error line."""


PORTAL_TIMEOUT_MS = 120_000  # the desktop may ask the user to confirm; a command must not wait for ever


def capture_screen(path: Path, portal_timeout_ms: int = PORTAL_TIMEOUT_MS) -> tuple[int, int]:
    """Write the screen as a PNG at `path`; returns its size. Raises ScreenCaptureError."""
    problem = display_problem()
    if problem is not None:
        raise ScreenCaptureError(problem)
    if os.environ.get("WAYLAND_DISPLAY") and sys.platform.startswith("linux"):
        image = _through_portal(portal_timeout_ms)
    else:
        image = _through_qt()
    if not image.save(str(path), "PNG"):
        raise ScreenCaptureError(f"the screenshot could not be written to {path}")
    return image.width(), image.height()


def _through_qt() -> QImage:
    from assistant.ui.capture.screen_grab import GrabFailed, grab_desktop

    app = QCoreApplication.instance()
    if app is None:
        arguments = ["assistant"]
        if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
            _check_x_display()
            arguments += ["-platform", "xcb"]
        app = QGuiApplication(arguments)
    elif not isinstance(app, QGuiApplication):
        raise ScreenCaptureError("this process already runs Qt without a screen")
    try:
        return grab_desktop().image
    except GrabFailed as error:
        raise ScreenCaptureError(str(error)) from error


def _check_x_display() -> None:
    """Qt ends the process when it cannot reach the display, so try it with libX11 first."""
    from assistant.ui.desktop.x11_keys import X11Error, load_libx11

    display = os.environ.get("DISPLAY", "")
    try:
        lib = load_libx11()
    except X11Error as error:
        raise ScreenCaptureError(f"cannot reach the X display {display}: {error}") from error
    lib.XCloseDisplay.argtypes = [lib.XOpenDisplay.restype]
    connection = lib.XOpenDisplay(display.encode())
    if not connection:
        raise ScreenCaptureError(f"cannot open the X display {display!r} (is the desktop session running, "
                                 "and may this user use it?)")  # fmt: skip
    lib.XCloseDisplay(connection)


def _through_portal(timeout_ms: int) -> QImage:
    from assistant.ui.capture.portal import PortalScreenshot

    app = QCoreApplication.instance() or QCoreApplication(["assistant"])  # D-Bus needs no screen
    portal = PortalScreenshot(app)
    outcome: list[tuple[str, object]] = []
    portal.failed.connect(lambda message: outcome.append(("failed", message)))
    portal.start(interactive=False)
    kind, value = outcome[0] if outcome else portal.wait(timeout_ms)
    if kind == "cancelled":
        raise ScreenCaptureError("the screenshot was cancelled in the desktop's dialog")
    if kind != "finished" or not isinstance(value, QImage):
        raise ScreenCaptureError(str(value))
    return value
