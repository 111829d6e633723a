"""The push-to-talk key held in any app (Settings ▸ Voice, off by default), where the platform allows it.

X11 only: a thread of our own owns an Xlib connection with the key grabbed (`x11_keys.KeyGrab`) and
turns presses and releases into Qt signals, queued to the GUI thread, where they take the same path as
the mic button (`PushToTalk.begin` / `end`). Wayland does not let an app see keys pressed in other apps;
Windows (RegisterHotKey has no release event) and macOS (needs the Accessibility permission) are not
supported yet. `availability()` says which, for the settings dialog.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication

from assistant.settings import Settings

if TYPE_CHECKING:
    from assistant.ui.voice.push_to_talk import PushToTalk

logger = logging.getLogger(__name__)

POLL_S = 1.0  # the grab thread also wakes at once through its pipe when asked to stop
WORKS = "Hold the key in any app to talk; it then no longer reaches other apps."
WAYLAND = ("Not available: Wayland does not let apps see keys pressed in other apps. The key works "
           "while this window is focused.")  # fmt: skip
WINDOWS = "Not supported on Windows yet: the key works while this window is focused."
MACOS = "Not supported on macOS yet (it needs the Accessibility permission): the key works in this window."


def availability(platform_name: str | None = None) -> tuple[bool, str]:
    """Whether a global key can be grabbed here, and a sentence saying so (or why not)."""
    if sys.platform == "win32":
        return False, WINDOWS
    if sys.platform == "darwin":
        return False, MACOS
    platform_name = platform_name if platform_name is not None else QGuiApplication.platformName()
    if platform_name == "wayland" or (platform_name == "xcb" and os.environ.get("WAYLAND_DISPLAY")):
        return False, WAYLAND  # through XWayland a grab only sees keys typed into X11 windows
    if platform_name != "xcb":
        return False, f"Not available without an X11 display (Qt runs on '{platform_name}')."
    from assistant.ui.desktop.x11_keys import X11Error, load_libx11  # ctypes: only on X11, only when asked

    try:
        load_libx11()
    except X11Error as error:
        return False, f"Not available: {error}."
    return True, WORKS


class GlobalHotkey(QObject):
    """One key grabbed on an X display; `pressed` / `released` / `failed` are emitted on the grab thread
    and, as this object lives on the GUI thread, delivered queued there."""

    pressed = Signal()
    released = Signal()
    failed = Signal(str)  # why the key could not be grabbed

    def __init__(
        self, parent: QObject | None = None, display_name: str | None = None, purpose: str = "push-to-talk"
    ) -> None:
        super().__init__(parent)
        self._display_name = display_name  # None: $DISPLAY, the one Qt uses
        self.purpose = purpose  # for the log: push-to-talk, or the capture key (ui/capture)
        self._thread: threading.Thread | None = None
        self._wake: tuple[int, int] | None = None
        self._grabbed = threading.Event()
        self.sequence = ""

    @property
    def active(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, sequence: str) -> None:
        """Grab `sequence` (a Qt key string such as "F8"); the grab is made on the new thread."""
        self.stop()
        self.sequence = sequence
        self._grabbed.clear()
        self._wake = os.pipe()
        self._thread = threading.Thread(
            target=self._run, args=(sequence, self._wake[0]), name="global-hotkey", daemon=True
        )
        self._thread.start()

    def wait_grabbed(self, timeout_s: float) -> bool:
        """True once the key is grabbed (tests, and callers that must know before going on)."""
        return self._grabbed.wait(timeout_s)

    def stop(self) -> None:
        """Release the grab: the key reaches other apps again."""
        thread, wake = self._thread, self._wake
        self._thread = self._wake = None
        if thread is None or wake is None:
            return
        os.write(wake[1], b"x")
        thread.join(timeout=5)
        os.close(wake[0])
        os.close(wake[1])

    def _run(self, sequence: str, wake_fd: int) -> None:  # on the grab thread
        from assistant.ui.desktop.x11_keys import KeyGrab, X11Error

        try:
            grab = KeyGrab(sequence, self._display_name)
        except X11Error as error:
            logger.warning("Global %s key unavailable: %s", self.purpose, error)
            self.failed.emit(str(error))
            return
        self._grabbed.set()
        logger.info("Global %s key %s grabbed", self.purpose, sequence)
        down = False
        try:
            while True:
                event = grab.next_key_event(POLL_S, wake_fd)
                if event is None:
                    if self._asked_to_stop(wake_fd):
                        break
                    continue
                down = event.pressed
                (self.pressed if event.pressed else self.released).emit()
        finally:
            grab.close()
            if down:
                self.released.emit()  # a recording started by the key must not run on forever

    @staticmethod
    def _asked_to_stop(wake_fd: int) -> bool:
        import select

        return bool(select.select([wake_fd], [], [], 0)[0])


class GlobalPushToTalk(QObject):
    """Keeps the grab in step with the settings and sends the key to push-to-talk."""

    def __init__(
        self,
        voice: PushToTalk,
        settings: Callable[[], Settings],
        hotkey: GlobalHotkey | None = None,
        platform_name: str | None = None,
    ) -> None:
        super().__init__(voice)
        self.voice = voice
        self._settings = settings
        self._platform_name = platform_name
        self.hotkey = hotkey or GlobalHotkey(self)
        self.hotkey.pressed.connect(self._pressed)
        self.hotkey.released.connect(voice.end)
        self.hotkey.failed.connect(self._failed)
        voice.window.closing.connect(self._closing)

    def sync(self) -> None:
        """Grab, re-grab or release after a settings change (cheap when nothing changed)."""
        settings = self._settings()
        wanted = settings.global_push_to_talk and not self.voice.window.quitting
        if wanted and not availability(self._platform_name)[0]:
            wanted = False  # the settings dialog already says why
        if not wanted:
            self.hotkey.stop()
        elif not self.hotkey.active or self.hotkey.sequence != settings.push_to_talk_key:
            self.hotkey.start(settings.push_to_talk_key)

    def _pressed(self) -> None:
        window = self.voice.window
        if window.isHidden() or window.isMinimized():
            # The live transcript and the answer must be seen; the focus stays where the user is.
            window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
            window.show()
            window.raise_()
        self.voice.begin()

    def _closing(self) -> None:
        self.hotkey.stop()  # the window really closes (hiding it in the tray emits no `closing`)

    def _failed(self, message: str) -> None:
        self.voice.window.status.show_error(f"The global push-to-talk key is off: {message}")
