"""Capture through the desktop portal (Wayland), on a private D-Bus session bus.

No desktop runs here, so the portal's side is played by a small D-Bus service written with jeepney
(a pure-Python D-Bus library) that speaks the portal's protocol: `Screenshot(parent, options)` returns
the request path built from the caller's name and `handle_token`, then the request emits
`Response(code, results)` with a file URI. The window's side is the real one: QtDBus, the capture
flow on a window told it runs on Wayland, the composer's chip and the engine's OCR. The failures a
user can meet are checked too: no session bus, a bus without a portal, a cancelled or refused
screenshot, a file that cannot be read.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtDBus import QDBusConnection
from PySide6.QtGui import QColor, QFont, QImage, QPainter

from assistant.ui.capture import screen_capture
from assistant.ui.capture.portal import NO_BUS, NO_PORTAL, PortalScreenshot
from assistant.ui.capture.screen_capture import ScreenCapture

pytestmark = pytest.mark.timeout(300)
WAIT_MS = 120_000
PORTAL_TEXT = "PORTAL 5150 READY"


@pytest.fixture(scope="module")
def bus_address() -> Iterator[str]:
    """A private session bus (dbus-daemon), gone at the end."""
    if shutil.which("dbus-daemon") is None:
        pytest.skip("needs dbus-daemon (apt-get install dbus-daemon)")
    daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    assert daemon.stdout is not None
    address = daemon.stdout.readline().strip()
    assert address, "dbus-daemon did not start"
    yield address
    daemon.terminate()
    daemon.wait(timeout=10)


def connect(address: str, name: str) -> QDBusConnection:
    bus = QDBusConnection.connectToBus(address, name)
    assert bus.isConnected(), bus.lastError().message()
    return bus


FAKE_PORTAL = """
    import json, sys
    from jeepney import DBusAddress, HeaderFields, MessageType, new_method_return, new_signal
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    address, code, uri = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    connection = open_dbus_connection(bus=address)
    owned = connection.send_and_get_reply(message_bus.RequestName("org.freedesktop.portal.Desktop"))
    print("ready" if owned.body[0] == 1 else "not-owner", flush=True)
    while True:
        message = connection.receive()
        fields = message.header.fields
        if message.header.message_type != MessageType.method_call:
            continue
        if fields.get(HeaderFields.member) != "Screenshot":
            connection.send(new_method_return(message))  # Close, and anything else: fine
            continue
        _parent, options = message.body
        options = {key: value for key, (_signature, value) in options.items()}
        print(json.dumps(options), flush=True)
        sender = fields[HeaderFields.sender].lstrip(":").replace(".", "_")
        handle = f"/org/freedesktop/portal/desktop/request/{sender}/{options['handle_token']}"
        connection.send(new_method_return(message, "o", (handle,)))
        if code < 0:
            continue  # a dialog nobody answers
        request = DBusAddress(handle, interface="org.freedesktop.portal.Request")
        results = {"uri": ("s", uri)} if uri else {}
        connection.send(new_signal(request, "Response", "ua{sv}", (code, results)))
"""


class FakePortal:
    """org.freedesktop.portal.Desktop's Screenshot on the bus, in a process of its own (as the real one
    is), answering each request with `code` and the file `uri`."""

    def __init__(self, address: str, code: int, uri: str) -> None:
        pytest.importorskip("jeepney")
        self.process = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(FAKE_PORTAL), address, str(code), uri],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready", "the fake portal did not start"

    def close(self) -> list[dict[str, object]]:
        """Stops it; the options of every Screenshot request it answered."""
        self.process.terminate()
        out, _ = self.process.communicate(timeout=10)
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def screenshot_file(path: Path) -> Path:
    """What a desktop's screenshot tool would write: a screen with a line of text on it."""
    image = QImage(900, 500, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    font = QFont("DejaVu Sans")
    font.setPixelSize(40)
    painter.setFont(font)
    painter.setPen(QColor("black"))
    painter.drawText(60, 120, PORTAL_TEXT)
    painter.end()
    assert image.save(str(path))
    return path


def outcome(qtbot, portal: PortalScreenshot, interactive: bool = True) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []
    portal.finished.connect(lambda image: seen.append(("finished", image)))
    portal.failed.connect(lambda message: seen.append(("failed", message)))
    portal.cancelled.connect(lambda: seen.append(("cancelled", None)))
    portal.start(interactive)
    qtbot.waitUntil(lambda: bool(seen), timeout=30_000)
    return seen


def test_without_a_session_bus_the_user_is_told_why(qtbot) -> None:
    bus = QDBusConnection.connectToBus("unix:path=/nonexistent/bus", "assistant-test-no-bus")
    assert not bus.isConnected()
    ((kind, message),) = outcome(qtbot, PortalScreenshot(bus=bus))
    assert kind == "failed"
    assert str(message).startswith(NO_BUS.split("{")[0]) and "/nonexistent/bus" in str(message)


def test_a_bus_without_a_portal_says_which_package_is_missing(qtbot, bus_address: str) -> None:
    bus = connect(bus_address, "assistant-test-no-portal")
    ((kind, message),) = outcome(qtbot, PortalScreenshot(bus=bus))
    assert (kind, message) == ("failed", NO_PORTAL)
    assert "xdg-desktop-portal" in NO_PORTAL


@pytest.mark.parametrize(("code", "expected"), [(1, "cancelled"), (2, "failed")])
def test_a_cancelled_or_refused_screenshot_gives_nothing(qtbot, bus_address: str, code: int,
                                                        expected: str) -> None:  # fmt: skip
    portal = FakePortal(bus_address, code, "")
    try:
        bus = connect(bus_address, f"assistant-test-code-{code}")
        ((kind, message),) = outcome(qtbot, PortalScreenshot(bus=bus), interactive=False)
    finally:
        requests = portal.close()
    assert kind == expected
    assert requests[0]["interactive"] is False
    if expected == "failed":
        assert "did not take the screenshot" in str(message)


def test_an_unreadable_file_from_the_portal_is_a_message(qtbot, bus_address: str, tmp_path: Path) -> None:
    broken = tmp_path / "screenshot.png"
    broken.write_bytes(b"not a png")
    portal = FakePortal(bus_address, 0, broken.as_uri())
    try:
        ((kind, message),) = outcome(qtbot, PortalScreenshot(bus=connect(bus_address, "assistant-test-bad")))
    finally:
        portal.close()
    assert kind == "failed" and "could not be read" in str(message) and broken.name in str(message)


def test_on_wayland_the_window_asks_the_portal_and_attaches_what_it_returns(
    qtbot, make_app, bus_address: str, tmp_path: Path
) -> None:
    shot = screenshot_file(tmp_path / "Screenshot from the desktop.png")
    portal = FakePortal(bus_address, 0, shot.as_uri())
    parts = make_app(engine=False)
    capture = parts.actions.capture
    # The window believes it runs on Wayland; the private bus stands in for the session bus.
    capture._platform_name = "wayland"
    flow = ScreenCapture(parts.window, "wayland", step_aside_ms=50)
    flow.portal_bus = connect(bus_address, "assistant-test-window")
    flow.captured.connect(capture._captured)
    capture._capture = flow
    try:
        capture.refresh()
        assert capture.region_action.isEnabled() and capture.window_action.isEnabled()
        assert capture.start("region")
        assert not parts.window.isVisible()  # stepped aside while the desktop's dialog is up
        qtbot.waitUntil(lambda: bool(parts.window.composer.attachments()), timeout=30_000)
    finally:
        requests = portal.close()
    assert parts.window.isVisible()
    assert requests[0]["interactive"] is True  # region: the user frames it in the dialog
    (attached,) = parts.window.composer.attachments()
    assert attached.name.startswith("screenshot-")
    assert shot.exists()  # the desktop's own file is left where the desktop put it
    questions = parts.controller.attachments
    qtbot.waitUntil(lambda: questions.early(attached.path) is not None and questions.early_pending == 0,
                    timeout=WAIT_MS)  # fmt: skip
    early = questions.early(attached.path)
    assert early is not None and early.found is not None
    assert PORTAL_TEXT.replace(" ", "") in early.found.text.replace(" ", "")


def test_a_dialog_that_never_answers_gives_the_window_back(
    qtbot, make_app, bus_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(screen_capture, "PORTAL_TIMEOUT_MS", 1500)
    portal = FakePortal(bus_address, -1, "")
    parts = make_app(engine=False)
    flow = ScreenCapture(parts.window, "wayland", step_aside_ms=20)
    flow.portal_bus = connect(bus_address, "assistant-test-silent")
    failures: list[str] = []
    flow.failed.connect(failures.append)
    try:
        assert flow.start("screen") and not parts.window.isVisible()
        qtbot.waitUntil(lambda: bool(failures), timeout=30_000)
    finally:
        requests = portal.close()
    assert requests[0]["interactive"] is False  # the full screen: no region to pick
    assert failures == ["No screenshot: the desktop's screenshot dialog did not answer in time."]
    assert parts.window.isVisible() and not flow.busy
