"""The capture key in any app (Settings ▸ Capture, off by default): capture a region and ask.

The sibling of the global push-to-talk key, on the same machinery (`desktop.global_hotkey`: an X11
key grab on a thread of its own, its presses queued to the GUI thread). A press starts a region
capture even while the window is minimised or in the tray; the window comes forward with the chip
once the region is chosen, and stays where it was when the capture is cancelled. X11 only, for the
reasons the push-to-talk key is (`global_hotkey.availability`).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject

from assistant.settings import Settings
from assistant.ui.capture.capture_actions import REGION, WindowCapture
from assistant.ui.desktop.global_hotkey import GlobalHotkey, availability

WORKS = "Press the key in any app to capture a region of the screen and ask about it; it then no longer " \
        "reaches other apps."  # fmt: skip


def global_capture_availability(platform_name: str | None = None) -> tuple[bool, str]:
    ok, reason = availability(platform_name)
    return (True, WORKS) if ok else (False, reason)


class GlobalCaptureKey(QObject):
    """Keeps the grab in step with the settings; a press starts a region capture."""

    def __init__(
        self,
        capture: WindowCapture,
        settings: Callable[[], Settings],
        hotkey: GlobalHotkey | None = None,
        platform_name: str | None = None,
    ) -> None:
        super().__init__(capture)
        self.capture = capture
        self._settings = settings
        self._platform_name = platform_name
        self.hotkey = hotkey or GlobalHotkey(self, purpose="capture")
        self.hotkey.pressed.connect(self._pressed)
        self.hotkey.failed.connect(self._failed)
        capture.window.closing.connect(self.hotkey.stop)  # the window really closes: the key is released

    def sync(self) -> None:
        """Grab, re-grab or release after a settings change (cheap when nothing changed)."""
        settings = self._settings()
        wanted = settings.global_capture_key and not self.capture.window.quitting
        if wanted and not availability(self._platform_name)[0]:
            wanted = False  # the settings dialog already says why
        if not wanted:
            self.hotkey.stop()
        elif not self.hotkey.active or self.hotkey.sequence != settings.capture_key:
            self.hotkey.start(settings.capture_key)

    def _pressed(self) -> None:
        self.capture.start(REGION)  # ignored while a capture is already open

    def _failed(self, message: str) -> None:
        self.capture.window.status.show_error(f"The global capture key is off: {message}")
