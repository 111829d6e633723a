"""A stand-in system tray on an X screen, for tests on Xvfb (which has no panel and so no tray).

Run with DISPLAY set: it owns the `_NET_SYSTEM_TRAY_S0` selection and announces itself as the System
Tray Protocol asks (a MANAGER client message to the root window), so Qt finds a tray; then it prints
"ready" and one line "dock WINDOW" for each icon that asks to be docked (SYSTEM_TRAY_REQUEST_DOCK).
It embeds nothing: the test only needs to see that the app put an icon in the tray.

    python tests/x_tray.py
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

CLIENT_MESSAGE = 33
STRUCTURE_NOTIFY_MASK = 1 << 17
SYSTEM_TRAY_REQUEST_DOCK = 0


class ClientMessage(ctypes.Structure):
    """Xlib's XClientMessageEvent (format 32: five longs of data)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("message_type", ctypes.c_ulong),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    ]


class Event(ctypes.Union):
    _fields_ = [("type", ctypes.c_int), ("client", ClientMessage), ("pad", ctypes.c_long * 24)]


def main() -> int:
    name = ctypes.util.find_library("X11")
    if name is None:
        sys.stderr.write("libX11 not found\n")
        return 1
    x = ctypes.CDLL(name)
    x.XOpenDisplay.restype = ctypes.c_void_p
    x.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x.XDefaultRootWindow.restype = ctypes.c_ulong
    x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x.XCreateSimpleWindow.restype = ctypes.c_ulong
    x.XCreateSimpleWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int,
                                      ctypes.c_uint, ctypes.c_uint, ctypes.c_uint, ctypes.c_ulong,
                                      ctypes.c_ulong]  # fmt: skip
    x.XInternAtom.restype = ctypes.c_ulong
    x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x.XSetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    x.XGetSelectionOwner.restype = ctypes.c_ulong
    x.XGetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    x.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                             ctypes.POINTER(Event)]  # fmt: skip
    x.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.POINTER(Event)]
    x.XFlush.argtypes = [ctypes.c_void_p]

    display = x.XOpenDisplay(None)
    if not display:
        sys.stderr.write("cannot open the display\n")
        return 1
    root = x.XDefaultRootWindow(display)
    window = x.XCreateSimpleWindow(display, root, 0, 0, 1, 1, 0, 0, 0)
    selection = x.XInternAtom(display, b"_NET_SYSTEM_TRAY_S0", 0)
    opcode = x.XInternAtom(display, b"_NET_SYSTEM_TRAY_OPCODE", 0)
    x.XSetSelectionOwner(display, selection, window, 0)
    if x.XGetSelectionOwner(display, selection) != window:
        sys.stderr.write("another tray owns the selection\n")
        return 1
    announce = Event()
    announce.client.type = CLIENT_MESSAGE
    announce.client.window = root
    announce.client.message_type = x.XInternAtom(display, b"MANAGER", 0)
    announce.client.format = 32
    announce.client.data[:] = [0, selection, window, 0, 0]
    x.XSendEvent(display, root, 0, STRUCTURE_NOTIFY_MASK, ctypes.byref(announce))
    x.XFlush(display)
    print("ready", flush=True)
    event = Event()
    while True:
        x.XNextEvent(display, ctypes.byref(event))
        message = event.client
        docking = message.message_type == opcode and message.data[1] == SYSTEM_TRAY_REQUEST_DOCK
        if event.type == CLIENT_MESSAGE and docking:
            print(f"dock {message.data[2]:#x}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
