"""A screenshot through the desktop portal (Wayland): `org.freedesktop.portal.Screenshot` over D-Bus.

Wayland lets no app read the screen; the portal asks the user in the desktop's own dialog (where an
interactive request also lets them pick a region or a window) and answers with a file it wrote. The
protocol: `Screenshot(parent_window, {handle_token, interactive})` returns a request object whose
`Response(code, results)` signal comes once the user decided: 0 with `results["uri"]`, 1 cancelled,
2 anything else. The request's path is known before the call (portal 0.9+:
`/org/freedesktop/portal/desktop/request/<our bus name>/<token>`), so we listen first and cannot miss
a fast answer.

Asynchronous on purpose: the user may take their time in the dialog, and the window must not hang
meanwhile; `wait` blocks with an event loop for the command line. Every failure is one sentence: no
session bus, no portal running (`ServiceUnknown`), the desktop has no screenshot portal, the desktop
refused, an unreadable file. The file the portal wrote is the desktop's; it is read, not moved.

PySide6 cannot read D-Bus maps out of a QDBusMessage (QDBusArgument's extraction operators are not
bound), so the Response is received by a slot with the typed signature `(uint, QVariantMap)`, which
QtDBus demarshals itself.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import unquote, urlparse

from PySide6.QtCore import SLOT, QEventLoop, QObject, QTimer, Signal, Slot
from PySide6.QtDBus import QDBus, QDBusConnection, QDBusMessage, QDBusPendingCallWatcher
from PySide6.QtGui import QImage

logger = logging.getLogger(__name__)

SERVICE = "org.freedesktop.portal.Desktop"
OBJECT = "/org/freedesktop/portal/desktop"
INTERFACE = "org.freedesktop.portal.Screenshot"
REQUEST = "org.freedesktop.portal.Request"
CALL_TIMEOUT_MS = 25_000  # the portal may be started on demand (D-Bus activation) by this call
NO_BUS = "there is no D-Bus session bus ({detail}), so the desktop cannot be asked for a screenshot"
NO_PORTAL = ("no desktop portal is running (install xdg-desktop-portal and the one for your desktop: "
             "xdg-desktop-portal-gnome, -kde or -wlr)")  # fmt: skip
NO_SCREENSHOT = "the desktop portal on this system has no screenshot service ({detail})"
REFUSED = "the desktop did not take the screenshot (refused, or its screenshot tool failed)"


class PortalScreenshot(QObject):
    """One screenshot request; emits exactly one of `finished(QImage)`, `failed(str)`, `cancelled()`."""

    finished = Signal(QImage)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, parent: QObject | None = None, bus: QDBusConnection | None = None) -> None:
        super().__init__(parent)
        self._bus = bus
        self._handle = ""
        self._ended = False
        self._outcome: tuple[str, QImage | str | None] | None = None
        self._call: QDBusPendingCallWatcher | None = None

    @property
    def pending(self) -> bool:
        return bool(self._handle) and not self._ended

    def start(self, interactive: bool) -> None:
        """Ask the portal; the answer arrives later through the signals (on this thread's event loop).
        No session bus is reported before this returns, so connect the signals first."""
        bus = self._bus if self._bus is not None else QDBusConnection.sessionBus()
        if not bus.isConnected():
            error = bus.lastError()
            self._fail(NO_BUS.format(detail=error.message() or error.name() or "not connected"))
            return
        token = f"assistant_{secrets.token_hex(8)}"
        sender = bus.baseService().lstrip(":").replace(".", "_")
        self._handle = f"{OBJECT}/request/{sender}/{token}"
        # Listen before asking: the answer may come before the call returns.
        bus.connect(SERVICE, self._handle, REQUEST, "Response", self, SLOT("_response(uint,QVariantMap)"))
        self._bus = bus
        call = QDBusMessage.createMethodCall(SERVICE, OBJECT, INTERFACE, "Screenshot")
        call.setArguments(["", {"handle_token": token, "interactive": interactive, "modal": True}])
        # Asynchronous: starting the portal on demand can take seconds, and the window must not freeze.
        self._call = QDBusPendingCallWatcher(bus.asyncCall(call, CALL_TIMEOUT_MS), self)
        self._call.finished.connect(self._called)
        logger.info("Screenshot portal asked (%s)", self._handle)

    def _called(self, watcher: QDBusPendingCallWatcher) -> None:
        """The portal took the request (its answer comes with Response), or the call failed."""
        if self._ended or not watcher.isError():
            return
        error = watcher.error()
        name, detail = error.name(), error.message()
        logger.warning("Screenshot portal call failed: %s %s", name, detail)
        self._disconnect()
        short = name.rsplit(".", 1)[-1]
        if short in ("ServiceUnknown", "NameHasNoOwner"):
            self._fail(NO_PORTAL)
        elif short in ("UnknownMethod", "UnknownInterface", "UnknownObject"):
            self._fail(NO_SCREENSHOT.format(detail=detail or name))
        elif short in ("NoReply", "Timeout", "TimedOut"):
            self._fail("the desktop portal did not answer")
        else:
            self._fail(f"the desktop portal refused the request ({detail or name})")

    def close(self) -> None:
        """Give up on a request still open (a new capture, the window closing): its dialog closes too."""
        if not self.pending or self._bus is None:
            return
        self._ended = True
        self._disconnect()
        close = QDBusMessage.createMethodCall(SERVICE, self._handle, REQUEST, "Close")
        self._bus.call(close, QDBus.CallMode.NoBlock)

    def wait(self, timeout_ms: int = 0) -> tuple[str, QImage | str | None]:
        """Block (with an event loop) until the answer: ("finished", image), ("failed", message) or
        ("cancelled", None); timeout_ms 0 waits as long as the user takes. For the command line."""
        if self._ended:
            return self._outcome or ("failed", "the request was closed")
        outcome: list[tuple[str, QImage | str | None]] = []
        loop = QEventLoop()
        self.finished.connect(lambda image: (outcome.append(("finished", image)), loop.quit()))
        self.failed.connect(lambda message: (outcome.append(("failed", message)), loop.quit()))
        self.cancelled.connect(lambda: (outcome.append(("cancelled", None)), loop.quit()))
        if timeout_ms:
            QTimer.singleShot(timeout_ms, loop.quit)
        if not outcome:
            loop.exec()
        if not outcome:
            self.close()
            return ("failed", "the desktop portal did not answer in time")
        return outcome[0]

    # ---- the answer ----------------------------------------------------------------------------------

    @Slot("uint", "QVariantMap")
    def _response(self, code: int, results: dict) -> None:
        if self._ended:
            return
        self._ended = True
        self._disconnect()
        if code == 1:
            logger.info("Screenshot cancelled in the desktop's dialog")
            self._outcome = ("cancelled", None)
            self.cancelled.emit()
            return
        if code != 0:
            self._fail(REFUSED)
            return
        uri = str(results.get("uri", ""))
        path = unquote(urlparse(uri).path) if uri.startswith("file:") else ""
        image = QImage(path) if path else QImage()
        if image.isNull():
            self._fail(f"the desktop's screenshot could not be read ({uri or 'no file given'})")
            return
        logger.info("Screenshot from the portal: %s (%d x %d)", path, image.width(), image.height())
        self._outcome = ("finished", image)
        self.finished.emit(image)

    def _fail(self, message: str) -> None:
        self._ended = True
        self._outcome = ("failed", message)
        self.failed.emit(message)

    def _disconnect(self) -> None:
        if self._bus is not None and self._handle:
            self._bus.disconnect(SERVICE, self._handle, REQUEST, "Response", self,
                                 SLOT("_response(uint,QVariantMap)"))  # fmt: skip
