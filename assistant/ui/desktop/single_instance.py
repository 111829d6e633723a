"""One window per user and data folder: a second `assistant` brings the first one forward and exits.

The first instance listens on a local socket (QLocalServer: a Unix socket under the temp folder, a
named pipe on Windows) whose name is derived from the user and the data folder, so two users, or one
user with two `ASSISTANT_DATA_DIR`s (tests, a portable copy), never see each other. A later launch
connects, sends ACTIVATE, waits for OK and exits 0 before it opens the history or starts an engine.

A crashed instance leaves its socket file behind: connecting to it is refused, so the file is removed
and the new launch becomes the primary.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtNetwork import QAbstractSocket, QLocalServer, QLocalSocket
from PySide6.QtWidgets import QWidget

logger = logging.getLogger(__name__)

ACTIVATE = b"ACTIVATE\n"
OK = b"OK\n"
CONNECT_MS = 500  # a live primary accepts at once (the kernel does, even while its GUI is busy)
# The primary listens before it builds its window and answers once its event loop runs: a launch
# right after another waits for that (seconds on a busy machine), not only for a hung primary.
ANSWER_MS = 15_000


def server_name(data_dir: Path) -> str:
    """Per user and per data folder; short, because a Unix socket path is limited to ~100 bytes."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers): the number will do
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    folder = str(Path(data_dir).expanduser().resolve())
    digest = hashlib.sha256(f"{user}\0{folder}".encode()).hexdigest()[:16]
    return f"assistant-{digest}"


def ask_primary_to_activate(name: str) -> bool | None:
    """Ask a running instance to show its window.

    True: it answered; False: one is listening but did not answer in time (hung); None: nobody is
    listening (no socket, or a stale one from a crash). Blocking calls: works before any QApplication.
    """
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(CONNECT_MS):
        return None
    socket.write(ACTIVATE)
    socket.flush()
    socket.waitForBytesWritten(CONNECT_MS)
    answered = socket.waitForReadyRead(ANSWER_MS) and bytes(socket.readAll().data()).startswith(OK)
    socket.disconnectFromServer()
    return answered


def _someone_listening(name: str) -> bool:
    socket = QLocalSocket()
    socket.connectToServer(name)
    alive = socket.waitForConnected(CONNECT_MS)
    socket.abort()
    return alive


class SingleInstance(QObject):
    """The primary's listener: emits `activation_requested` (GUI thread) when another launch asks."""

    activation_requested = Signal()

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._server = QLocalServer(self)
        # Only this user may connect (the default on Unix is the umask's).
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)

    def listen(self) -> bool:
        """Become the primary; a socket file left by a crashed instance is removed first."""
        # Qt replaces an existing socket file when it listens with access options (it binds in a
        # private folder and renames), so a live primary must be looked for first.
        if _someone_listening(self.name):
            return False  # another launch won the race a moment ago: it is the primary
        if self._server.listen(self.name):
            return True
        if self._server.serverError() == QAbstractSocket.SocketError.AddressInUseError:
            logger.info("Removing the stale single-instance socket %s (a previous run crashed)", self.name)
            QLocalServer.removeServer(self.name)
            if self._server.listen(self.name):
                return True
        # Not fatal: the app runs, only a second launch will open a second window.
        logger.warning("Single-instance socket unavailable: %s", self._server.errorString())
        return False

    def close(self) -> None:
        self._server.close()  # removes the socket file, so the next launch starts without a stale one

    def _accept(self) -> None:
        while (socket := self._server.nextPendingConnection()) is not None:
            socket.setParent(self)
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)

    def _read(self, socket: QLocalSocket) -> None:
        if bytes(socket.readAll().data()).startswith(ACTIVATE.strip()):
            socket.write(OK)
            socket.flush()
            logger.info("Another launch asked for the window: bringing it forward")
            self.activation_requested.emit()


def bring_forward(window: QWidget) -> None:
    """Show, un-minimise, raise and activate the window (the window manager may only flash it)."""
    # Clearing only "minimised" keeps a maximised or full-screen window as the user left it.
    window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
    window.show()
    window.raise_()
    window.activateWindow()
