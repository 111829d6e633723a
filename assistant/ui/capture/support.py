"""Which way a screenshot can be taken here, or why it cannot: decided from Qt's platform plugin.

- X11 (`xcb`) and the test screens (`offscreen`, which composes this app's own windows): Qt grabs the
  screen itself (`QScreen.grabWindow(0)`), our overlay lets the user drag a region, and on X11 a window
  can be picked by clicking it.
- Wayland, and X11 apps inside a Wayland session (XWayland would grab only the X11 windows): the
  desktop portal (`org.freedesktop.portal.Screenshot` over D-Bus); the desktop shows its own dialog
  and the user confirms there, choosing the region or window in it.
- Windows and macOS: Qt grabs the screen (written, not tested on those systems; macOS asks for the
  Screen Recording permission the first time and, refused, gives only the wallpaper).
- Anything else (`minimal`, `vnc`, ...): no capture, with the reason.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

QT, PORTAL, NONE = "qt", "portal", "none"
# Qt platform plugins whose QScreen.grabWindow(0) returns the screen's pixels.
GRABBING_PLATFORMS = ("xcb", "offscreen", "windows", "cocoa")
UNTESTED = {"windows": "Windows", "cocoa": "macOS"}


@dataclass(frozen=True)
class CaptureSupport:
    method: str  # QT, PORTAL or NONE
    reason: str  # NONE: why not, for the user; otherwise a note ("" when there is nothing to say)
    window_pick: bool = False  # "click a window" works (X11: the window under the pointer)

    @property
    def available(self) -> bool:
        return self.method != NONE


def capture_support(
    platform_name: str, env: Mapping[str, str] | None = None, system: str | None = None
) -> CaptureSupport:
    """How this process can capture the screen, given Qt's platform name (QGuiApplication.platformName)."""
    env = os.environ if env is None else env
    system = sys.platform if system is None else system
    if platform_name == "wayland" or (platform_name == "xcb" and env.get("WAYLAND_DISPLAY")):
        if not system.startswith("linux") and not system.startswith("freebsd"):
            return CaptureSupport(NONE, "Screen capture on Wayland needs the desktop portal (Linux only).")
        return CaptureSupport(PORTAL, "On Wayland the desktop asks you to confirm each screenshot.")
    if platform_name in GRABBING_PLATFORMS:
        untested = UNTESTED.get(platform_name)
        note = f"Screen capture on {untested} is written but has not been tested there." if untested else ""
        # Offscreen, the windows to pick are this process's own (the tests draw theirs there).
        return CaptureSupport(QT, note, window_pick=platform_name in ("xcb", "offscreen"))
    return CaptureSupport(
        NONE, f"Screen capture needs a desktop: Qt runs on '{platform_name}', which has no screen to capture."
    )


def display_problem(env: Mapping[str, str] | None = None, system: str | None = None) -> str | None:
    """For a command-line capture, before any Qt is loaded: why there is no screen to capture, or None."""
    env = os.environ if env is None else env
    system = sys.platform if system is None else system
    if not system.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None  # Windows and macOS always have their one desktop
    if env.get("WAYLAND_DISPLAY") or env.get("DISPLAY"):
        return None
    return ("there is no display to capture: neither DISPLAY nor WAYLAND_DISPLAY is set (run it inside "
            "your desktop session, not over SSH or a plain console; or pass an image with --image FILE)")
