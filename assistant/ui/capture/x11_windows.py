"""The windows on an X11 screen and where they are, for "click a window" (libX11 through ctypes).

The root window's children, from `XQueryTree`, are the top-level windows in stacking order, bottom
first; with a window manager they are its frames, so a picked window comes with its title bar, as in
other screenshot tools. Only mapped (viewable), ordinary windows count: override-redirect ones are
menus, tooltips and notifications, and our own overlay. The server is grabbed for the few
milliseconds of the listing so no window can vanish between the list and its geometry; an X error
is recorded, never fatal (Xlib's default handler would exit the process).

It opens its own short-lived connection ($DISPLAY, the one Qt uses), on the GUI thread.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from assistant.ui.desktop.x11_keys import X11Error, load_libx11

IS_VIEWABLE = 2
INPUT_OUTPUT = 1


class _WindowAttributes(ctypes.Structure):
    _fields_ = [
        ("x", ctypes.c_int), ("y", ctypes.c_int), ("width", ctypes.c_int), ("height", ctypes.c_int),
        ("border_width", ctypes.c_int), ("depth", ctypes.c_int), ("visual", ctypes.c_void_p),
        ("root", ctypes.c_ulong), ("c_class", ctypes.c_int), ("bit_gravity", ctypes.c_int),
        ("win_gravity", ctypes.c_int), ("backing_store", ctypes.c_int), ("backing_planes", ctypes.c_ulong),
        ("backing_pixel", ctypes.c_ulong), ("save_under", ctypes.c_int), ("colormap", ctypes.c_ulong),
        ("map_installed", ctypes.c_int), ("map_state", ctypes.c_int), ("all_event_masks", ctypes.c_long),
        ("your_event_mask", ctypes.c_long), ("do_not_propagate_mask", ctypes.c_long),
        ("override_redirect", ctypes.c_int), ("screen", ctypes.c_void_p),
    ]  # fmt: skip


_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_failed: list[int] = []


@_HANDLER
def _note_error(display: int, error: int) -> int:
    _failed.append(1)  # a window gone meanwhile: skipped, never fatal
    return 0


@dataclass(frozen=True)
class ScreenWindow:
    window_id: int
    x: int  # device pixels on the root window, border included
    y: int
    width: int
    height: int

    def contains(self, x: int, y: int) -> bool:
        return self.x <= x < self.x + self.width and self.y <= y < self.y + self.height


def _prototypes(lib: ctypes.CDLL) -> None:
    lib.XQueryTree.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong),
                               ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.POINTER(ctypes.c_ulong)),
                               ctypes.POINTER(ctypes.c_uint)]  # fmt: skip
    lib.XGetWindowAttributes.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(_WindowAttributes)]
    lib.XFree.argtypes = [ctypes.c_void_p]
    lib.XGrabServer.argtypes = [ctypes.c_void_p]
    lib.XUngrabServer.argtypes = [ctypes.c_void_p]
    lib.XSetErrorHandler.restype = ctypes.c_void_p
    lib.XSetErrorHandler.argtypes = [ctypes.c_void_p]


def top_level_windows(display_name: str | None = None) -> list[ScreenWindow]:
    """The viewable top-level windows, topmost first. Raises X11Error without an X display."""
    lib = load_libx11()
    _prototypes(lib)
    display = lib.XOpenDisplay(display_name.encode() if display_name else None)
    if not display:
        raise X11Error(f"Cannot connect to the X display {display_name or '(from $DISPLAY)'}")
    previous = lib.XSetErrorHandler(ctypes.cast(_note_error, ctypes.c_void_p))
    found: list[ScreenWindow] = []
    try:
        root = lib.XDefaultRootWindow(display)
        lib.XGrabServer(display)
        try:
            root_return, parent_return = ctypes.c_ulong(), ctypes.c_ulong()
            children = ctypes.POINTER(ctypes.c_ulong)()
            count = ctypes.c_uint()
            if lib.XQueryTree(display, root, ctypes.byref(root_return), ctypes.byref(parent_return),
                              ctypes.byref(children), ctypes.byref(count)):  # fmt: skip
                try:
                    for index in range(count.value):
                        window = _described(lib, display, children[index])
                        if window is not None:
                            found.append(window)
                finally:
                    if children:
                        lib.XFree(children)
        finally:
            lib.XUngrabServer(display)
            lib.XSync(display, 0)
    finally:
        lib.XSetErrorHandler(previous)
        lib.XCloseDisplay(display)
        _failed.clear()
    found.reverse()  # XQueryTree lists bottom to top
    return found


def _described(lib: ctypes.CDLL, display: int, window_id: int) -> ScreenWindow | None:
    attributes = _WindowAttributes()
    if not lib.XGetWindowAttributes(display, window_id, ctypes.byref(attributes)):
        return None
    if (attributes.map_state != IS_VIEWABLE or attributes.override_redirect
            or attributes.c_class != INPUT_OUTPUT or attributes.width <= 1 or attributes.height <= 1):
        return None
    border = attributes.border_width
    return ScreenWindow(int(window_id), attributes.x, attributes.y,
                        attributes.width + 2 * border, attributes.height + 2 * border)  # fmt: skip
