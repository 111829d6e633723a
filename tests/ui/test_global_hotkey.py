"""The global push-to-talk key on a real X server (Xvfb): keys typed with xdotool (XTEST) while another
app, a real Qt window on that server, has the focus. The window under test itself runs offscreen; only
the grab talks to Xvfb, through its own Xlib connection, as it would on a desktop."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fake_audio_device import FakeSoundDevice
from windows import Windows

from assistant.settings import Settings, load_settings
from assistant.ui.desktop.global_hotkey import WAYLAND, GlobalHotkey, GlobalPushToTalk, availability
from assistant.ui.desktop.x11_keys import X11Error, parse_key
from assistant.ui.settings.settings_dialog import SettingsDialog
from assistant.ui.voice.push_to_talk import TOO_SHORT

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]
WAIT_MS = 30_000

FOCUSED_APP = """
    import sys
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QLineEdit

    class Keys(QObject):
        def eventFilter(self, watched, event):
            if event.type() == QEvent.Type.KeyPress and watched is line:
                print("key", event.key(), flush=True)
            return False

    app = QApplication(sys.argv)
    line = QLineEdit()
    line.setWindowTitle("focused-app")
    keys = Keys()
    line.installEventFilter(keys)
    line.resize(400, 100)
    line.show()
    line.activateWindow()
    line.setFocus()
    QTimer.singleShot(300, lambda: print("ready", flush=True))
    app.exec()
"""
KEY_A, KEY_B, KEY_F8 = 0x41, 0x42, 0x01000037  # Qt::Key values the focused app prints


@pytest.fixture(scope="module")
def x_display() -> Iterator[str]:
    """A private X server for this module."""
    if shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
        pytest.skip("needs Xvfb and xdotool (apt-get install xvfb xdotool)")
    # -displayfd: the server picks a free display number itself and writes it to the pipe (no race with
    # other test runs on the same machine).
    read_end, write_end = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-nolisten", "tcp", "-screen", "0",
                               "800x600x24"], pass_fds=(write_end,),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()  # empty if the server exited
    assert number and server.poll() is None, "Xvfb did not start"
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def focused_app(x_display: str) -> Iterator[subprocess.Popen[str]]:
    """A real Qt window on the X server, focused: it prints every key it receives."""
    env = {**os.environ, "DISPLAY": x_display, "QT_QPA_PLATFORM": "xcb"}
    app = subprocess.Popen([sys.executable, "-c", textwrap.dedent(FOCUSED_APP)], env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    assert app.stdout is not None
    assert app.stdout.readline().strip() == "ready"
    # No window manager on Xvfb: put the pointer on the window and give it the focus explicitly.
    xdotool(x_display, "search", "--sync", "--name", "focused-app", "windowfocus", "--sync")
    yield app
    app.terminate()
    app.wait(timeout=10)


def xdotool(display: str, *args: str) -> None:
    subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, check=True, timeout=30)


def keys_received(app: subprocess.Popen[str], expected: int) -> list[int]:
    """The keys the focused app printed: read as they come until `expected` arrived, then the app is
    stopped and anything after them is added (a key that should not have reached it shows up)."""
    assert app.stdout is not None
    lines = []
    while sum(line.startswith("key ") for line in lines) < expected:
        line = app.stdout.readline()  # blocks until the app handled the next key (pytest-timeout bounds it)
        if not line:
            break
        lines.append(line)
    app.terminate()
    out, _ = app.communicate(timeout=10)
    return [int(line.split()[1]) for line in [*lines, *out.splitlines()] if line.startswith("key ")]


def recorder(hotkey: GlobalHotkey) -> list[str]:
    seen: list[str] = []
    hotkey.pressed.connect(lambda: seen.append("pressed"))
    hotkey.released.connect(lambda: seen.append("released"))
    hotkey.failed.connect(lambda message: seen.append(f"failed: {message}"))
    return seen


def test_the_key_is_caught_in_another_app_and_not_passed_on(qtbot, x_display: str, focused_app) -> None:
    hotkey = GlobalHotkey(display_name=x_display)
    seen = recorder(hotkey)
    hotkey.start("F8")
    try:
        assert hotkey.wait_grabbed(10), seen
        # Held long enough for the server's auto-repeat (660 ms): still one press and one release.
        xdotool(x_display, "key", "a", "keydown", "F8", "sleep", "1.2", "keyup", "F8", "key", "b")
        qtbot.waitUntil(lambda: len(seen) >= 2, timeout=WAIT_MS)
        # Settled: the X server delivers events in order, so a second tap's press and release come after
        # any stray repeat of the long hold; four events then mean the hold gave exactly one of each.
        xdotool(x_display, "key", "F8")
        qtbot.waitUntil(lambda: len(seen) >= 4, timeout=WAIT_MS)
        assert seen == ["pressed", "released", "pressed", "released"]
    finally:
        hotkey.stop()
    assert not hotkey.active
    xdotool(x_display, "key", "F8")  # released: F8 reaches the focused app again
    assert keys_received(focused_app, expected=3) == [KEY_A, KEY_B, KEY_F8]


def test_modifiers_and_a_key_another_app_holds(qtbot, x_display: str) -> None:
    first, second = GlobalHotkey(display_name=x_display), GlobalHotkey(display_name=x_display)
    seen_first, seen_second = recorder(first), recorder(second)
    first.start("Ctrl+Shift+F9")
    try:
        assert first.wait_grabbed(10)
        second.start("Ctrl+Shift+F9")
        qtbot.waitUntil(lambda: bool(seen_second), timeout=WAIT_MS)
        assert seen_second == ["failed: Another program already uses Ctrl+Shift+F9 as a global shortcut."]
        xdotool(x_display, "key", "F9")  # without the modifiers: not ours
        xdotool(x_display, "key", "ctrl+shift+F9")
        qtbot.waitUntil(lambda: len(seen_first) >= 2, timeout=WAIT_MS)
        assert seen_first == ["pressed", "released"]
    finally:
        first.stop()
        second.stop()


def test_holding_the_key_anywhere_records_through_push_to_talk(
    qtbot, x_display: str, app_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    windows = Windows(qtbot)
    microphone = FakeSoundDevice(np.zeros(16_000, np.float32), samplerate=16_000, channels=1)
    settings = Settings(model="no-engine-in-this-test", global_push_to_talk=True, push_to_talk_key="F7")
    parts = windows.open(settings, app_dirs / "config" / "settings.json", microphone)
    try:
        voice, status = parts.voice, parts.window.status
        assert voice is not None
        # The window runs offscreen, so the app wired none; this one uses Xvfb as if Qt were on xcb.
        wired = GlobalPushToTalk(voice, lambda: parts.session.settings, GlobalHotkey(display_name=x_display),
                                 platform_name="xcb")  # fmt: skip
        wired.sync()
        assert wired.hotkey.wait_grabbed(10)
        parts.window.showMinimized()
        xdotool(x_display, "keydown", "F7")
        qtbot.waitUntil(lambda: voice.recording, timeout=WAIT_MS)
        assert not parts.window.isMinimized()  # the live words must be seen
        xdotool(x_display, "keyup", "F7")
        # The same path as the mic button: a one-second clip of silence is "too short".
        qtbot.waitUntil(lambda: status.last_error == TOO_SHORT, timeout=WAIT_MS)
        assert not voice.recording
        parts.session.apply_settings(Settings(model="no-engine-in-this-test", global_push_to_talk=False))
        wired.sync()
        assert not wired.hotkey.active  # setting off: the grab is released
    finally:
        windows.close_all()


def test_availability_says_why_not() -> None:
    assert availability("wayland") == (False, WAYLAND)
    ok, note = availability("offscreen")
    assert not ok and "offscreen" in note
    if sys.platform.startswith("linux") and not os.environ.get("WAYLAND_DISPLAY"):
        assert availability("xcb")[0]


def test_key_names_map_to_x_keysyms() -> None:
    assert parse_key("F8") == ("F8", 0)
    assert parse_key("Ctrl+Alt+Space") == ("space", 4 | 8)
    assert parse_key("Meta+PgDown") == ("Next", 64)
    with pytest.raises(X11Error, match="unknown modifier"):
        parse_key("Hyper+F8")


def test_settings_dialog_says_why_the_global_key_is_off_and_keeps_the_choice(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    dialog = SettingsDialog(Settings(global_push_to_talk=True), [], None, path)
    qtbot.addWidget(dialog)
    assert not dialog.global_key.isEnabled()  # this test's Qt runs offscreen: no X11 display
    assert "offscreen" in dialog.global_key_note.text()
    dialog.accept()
    saved = load_settings(path)
    assert saved.global_push_to_talk and not saved.keep_in_tray  # kept for the next X11 session
