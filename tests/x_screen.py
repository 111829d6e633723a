"""A real X screen for the capture tests: a private Xvfb, a known window drawn on it, xdotool.

The known window is a separate Qt program on that screen (as another app would be), showing a line of
text large enough for the real OCR to read; it prints "ready" once it is mapped and painted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

KNOWN_TEXT = "INVOICE 4721 OVERDUE"
# Where the known window sits (no window manager on Xvfb: it stays where it is put).
KNOWN_RECT = (40, 40, 560, 120)
SCREEN = (800, 600)

KNOWN_APP = """
    import sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication(sys.argv)
    label = QLabel(sys.argv[1])
    label.setWindowTitle("known-window")
    label.setStyleSheet("font-size: 36px; background: white; color: black; padding: 20px")
    x, y, w, h = (int(v) for v in sys.argv[2].split(","))
    label.setGeometry(x, y, w, h)
    label.show()
    QTimer.singleShot(500, lambda: print("ready", flush=True))
    app.exec()
"""


def needs_x_tools() -> None:
    if shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
        pytest.skip("needs Xvfb and xdotool (apt-get install xvfb xdotool)")


@contextmanager
def xvfb(size: tuple[int, int] = SCREEN) -> Iterator[str]:
    """A private X server; yields its display name (":N")."""
    needs_x_tools()
    # -displayfd: the server picks a free display number and writes it to the pipe (no race).
    read_end, write_end = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-nolisten", "tcp", "-screen", "0",
                               f"{size[0]}x{size[1]}x24"], pass_fds=(write_end,),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()
    assert number and server.poll() is None, "Xvfb did not start"
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def x_env(display: str) -> dict[str, str]:
    """The environment of a program on that screen (Qt on X11, no session bus to autolaunch)."""
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    env.pop("WAYLAND_DISPLAY", None)
    env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/nonexistent-bus"  # never autolaunch a bus from X11
    return env


@contextmanager
def known_window(display: str, text: str = KNOWN_TEXT, rect: tuple[int, int, int, int] = KNOWN_RECT
                 ) -> Iterator[subprocess.Popen[str]]:
    """Another app's window with `text` in it, at `rect`, on the screen."""
    geometry = ",".join(str(v) for v in rect)
    app = subprocess.Popen([sys.executable, "-c", textwrap.dedent(KNOWN_APP), text, geometry],
                           env=x_env(display), text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    assert app.stdout is not None
    try:
        assert app.stdout.readline().strip() == "ready", "the known window did not open"
        yield app
    finally:
        app.terminate()
        app.wait(timeout=10)


def xdotool(display: str, *args: str) -> None:
    subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, check=True, timeout=30)
