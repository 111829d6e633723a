"""A global key grab on X11 through libX11 (ctypes): no Qt, its own Display connection.

`KeyGrab` owns one connection to the X server and must be used from one thread only (the grab thread
in `global_hotkey.py`): Xlib connections are not thread-safe unless XInitThreads ran before any other
Xlib call, which Qt's own connection makes impossible to guarantee. The key goes to us wherever the
focus is, and not to the focused app (that is what XGrabKey on the root window means).

Auto-repeat: with XkbSetDetectableAutoRepeat a held key sends repeated presses and one release; without
it (old servers) each repeat is a release immediately followed by a press with the same timestamp,
which `next_key_event` folds away.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import select
from dataclasses import dataclass

KEY_PRESS, KEY_RELEASE = 2, 3
SHIFT_MASK, LOCK_MASK, CONTROL_MASK = 1 << 0, 1 << 1, 1 << 2
MOD1_MASK, MOD2_MASK, MOD4_MASK = 1 << 3, 1 << 4, 1 << 6  # Alt, NumLock (usually), Super
GRAB_MODE_ASYNC = 1
BAD_ACCESS = 10  # another client holds the same grab
# Caps Lock and Num Lock are modifiers too: grab each combination so the key works with them on.
LOCK_VARIANTS = (0, LOCK_MASK, MOD2_MASK, LOCK_MASK | MOD2_MASK)
MODIFIER_MASKS = {"ctrl": CONTROL_MASK, "shift": SHIFT_MASK, "alt": MOD1_MASK, "meta": MOD4_MASK}
# Qt's portable key names where X's keysym names differ (F1..F35 and letters are the same).
QT_TO_KEYSYM = {
    "space": "space", "esc": "Escape", "tab": "Tab", "backspace": "BackSpace", "return": "Return",
    "enter": "KP_Enter", "ins": "Insert", "del": "Delete", "pause": "Pause", "print": "Print",
    "home": "Home", "end": "End", "left": "Left", "up": "Up", "right": "Right", "down": "Down",
    "pgup": "Prior", "pgdown": "Next", "capslock": "Caps_Lock", "numlock": "Num_Lock",
    "scrolllock": "Scroll_Lock", "menu": "Menu", "`": "grave", "-": "minus", "=": "equal",
    "[": "bracketleft", "]": "bracketright", ";": "semicolon", "'": "apostrophe", "\\": "backslash",
    ",": "comma", ".": "period", "/": "slash",
}  # fmt: skip


class X11Error(Exception):
    """The grab cannot be made; the message says why, for the status bar."""


class _KeyEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("root", ctypes.c_ulong),
        ("subwindow", ctypes.c_ulong), ("time", ctypes.c_ulong), ("x", ctypes.c_int), ("y", ctypes.c_int),
        ("x_root", ctypes.c_int), ("y_root", ctypes.c_int), ("state", ctypes.c_uint),
        ("keycode", ctypes.c_uint), ("same_screen", ctypes.c_int),
    ]  # fmt: skip


class _Event(ctypes.Union):
    _fields_ = [("type", ctypes.c_int), ("key", _KeyEvent), ("pad", ctypes.c_long * 24)]


class _ErrorEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int), ("display", ctypes.c_void_p), ("resourceid", ctypes.c_ulong),
        ("serial", ctypes.c_ulong), ("error_code", ctypes.c_ubyte), ("request_code", ctypes.c_ubyte),
        ("minor_code", ctypes.c_ubyte),
    ]  # fmt: skip


_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_ErrorEvent))
_errors: dict[int, int] = {}  # display pointer -> last error code (Xlib's handler is process-wide)


@_ERROR_HANDLER
def _record_error(display: int, error: ctypes._Pointer) -> int:  # type: ignore[type-arg]
    # Xlib's default handler exits the process; this one only notes the error for the caller.
    _errors[display or 0] = error.contents.error_code
    return 0


def load_libx11() -> ctypes.CDLL:
    """libX11, or X11Error when it is not installed."""
    name = ctypes.util.find_library("X11") or "libX11.so.6"
    try:
        lib = ctypes.CDLL(name)
    except OSError as error:
        raise X11Error(f"libX11 is not installed ({error})") from error
    lib.XOpenDisplay.restype = ctypes.c_void_p
    lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    lib.XDefaultRootWindow.restype = ctypes.c_ulong
    lib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    lib.XStringToKeysym.restype = ctypes.c_ulong
    lib.XStringToKeysym.argtypes = [ctypes.c_char_p]
    lib.XKeysymToKeycode.restype = ctypes.c_ubyte
    lib.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    lib.XGrabKey.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_ulong,
                             ctypes.c_int, ctypes.c_int, ctypes.c_int]  # fmt: skip
    lib.XUngrabKey.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_ulong]
    lib.XkbSetDetectableAutoRepeat.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    for name_ in ("XSync",):
        getattr(lib, name_).argtypes = [ctypes.c_void_p, ctypes.c_int]
    for name_ in ("XPending", "XConnectionNumber", "XCloseDisplay", "XFlush"):
        getattr(lib, name_).argtypes = [ctypes.c_void_p]
    lib.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Event)]
    lib.XPeekEvent.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Event)]
    lib.XSetErrorHandler.restype = ctypes.c_void_p
    lib.XSetErrorHandler.argtypes = [_ERROR_HANDLER]
    return lib


def parse_key(sequence: str) -> tuple[str, int]:
    """A Qt key sequence string ("F8", "Ctrl+Shift+Space") as an X keysym name and modifier mask."""
    *modifiers, key = [part.strip() for part in sequence.replace("++", "+plus").split("+")]
    if key == "plus":
        key = "+"
    if not key:
        raise X11Error("No push-to-talk key is set.")
    mask = 0
    for modifier in modifiers:
        if modifier.lower() not in MODIFIER_MASKS:
            raise X11Error(f"The key {sequence!r} cannot be held globally (unknown modifier {modifier!r}).")
        mask |= MODIFIER_MASKS[modifier.lower()]
    name = QT_TO_KEYSYM.get(key.lower(), key if len(key) > 1 else key.lower())
    return name, mask


@dataclass
class KeyEvent:
    pressed: bool  # False: released
    time_ms: int  # the X server's timestamp


class KeyGrab:
    """XGrabKey on the root window of `display_name` (None: $DISPLAY); call everything from one thread."""

    def __init__(self, sequence: str, display_name: str | None = None) -> None:
        self._lib = load_libx11()
        self._display = self._lib.XOpenDisplay(display_name.encode() if display_name else None)
        if not self._display:
            raise X11Error(f"Cannot connect to the X display {display_name or '(from $DISPLAY)'}.")
        self._lib.XSetErrorHandler(_record_error)
        self._root = self._lib.XDefaultRootWindow(self._display)
        keysym_name, self._mask = parse_key(sequence)
        keysym = self._lib.XStringToKeysym(keysym_name.encode())
        self._keycode = self._lib.XKeysymToKeycode(self._display, keysym) if keysym else 0
        if not self._keycode:
            self.close()
            raise X11Error(f"The key {sequence!r} is not on this keyboard layout.")
        self._lib.XkbSetDetectableAutoRepeat(self._display, 1, None)
        _errors.pop(self._display, None)
        for locks in LOCK_VARIANTS:
            self._lib.XGrabKey(self._display, self._keycode, self._mask | locks, self._root, 0,
                               GRAB_MODE_ASYNC, GRAB_MODE_ASYNC)  # fmt: skip
        self._lib.XSync(self._display, 0)  # errors arrive now, through _record_error
        if _errors.pop(self._display, None) is not None:
            self.close()
            raise X11Error(f"Another program already uses {sequence} as a global shortcut.")
        self._down = False

    def fileno(self) -> int:
        return int(self._lib.XConnectionNumber(self._display))

    def next_key_event(self, timeout_s: float, wake_fd: int | None = None) -> KeyEvent | None:
        """The next real press or release of the key (auto-repeat removed), or None after timeout_s
        or when `wake_fd` becomes readable (the owner wants this thread to stop)."""
        event = _Event()
        while True:
            if not self._lib.XPending(self._display):
                watched = [self.fileno()] + ([wake_fd] if wake_fd is not None else [])
                ready, _, _ = select.select(watched, [], [], timeout_s)
                if not ready or (wake_fd is not None and wake_fd in ready):
                    return None
                if not self._lib.XPending(self._display):
                    continue  # something other than an event (a reply) was read
            self._lib.XNextEvent(self._display, ctypes.byref(event))
            if event.type not in (KEY_PRESS, KEY_RELEASE) or event.key.keycode != self._keycode:
                continue
            if event.type == KEY_RELEASE and self._is_repeat(event.key.time):
                continue  # old-style auto-repeat: the matching press is skipped below as "already down"
            pressed = event.type == KEY_PRESS
            if pressed == self._down:
                continue  # a repeated press while held
            self._down = pressed
            return KeyEvent(pressed, int(event.key.time))

    def _is_repeat(self, release_time: int) -> bool:
        if not self._lib.XPending(self._display):
            return False
        following = _Event()
        self._lib.XPeekEvent(self._display, ctypes.byref(following))
        return (
            following.type == KEY_PRESS
            and following.key.keycode == self._keycode
            and following.key.time == release_time
        )

    def close(self) -> None:
        """Release the grab and the connection (the server also drops both if the process dies)."""
        if not self._display:
            return
        if getattr(self, "_keycode", 0):
            for locks in LOCK_VARIANTS:
                self._lib.XUngrabKey(self._display, self._keycode, self._mask | locks, self._root)
            self._lib.XSync(self._display, 0)
        self._lib.XCloseDisplay(self._display)
        _errors.pop(self._display, None)
        self._display = None
