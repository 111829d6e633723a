"""The tray icon: "Ask…" brings the window forward with the cursor in the composer; "Quit" quits.

Closing the window quits the app, as most chat apps do, unless Settings ▸ "Keep running in the tray
when the window is closed" is on: then closing hides the window (the engine and a loaded model stay
warm, so the next question is instant) and the tray, a second `assistant` launch or the global
push-to-talk key bring it back. With no tray on this desktop there is no icon and closing always quits
(a hidden window with no way back would look like a crash).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QApplication, QMenu, QStyle, QSystemTrayIcon

from assistant.ui.desktop.app_icon import app_icon
from assistant.ui.desktop.single_instance import bring_forward
from assistant.ui.main_window import MainWindow

logger = logging.getLogger(__name__)

STILL_RUNNING = "Assistant is still running here. Use Quit in this menu to stop it."


def tray_icon() -> QIcon:
    """The app's icon (ui/app_icon.py), else the desktop theme's, else Qt's: a tray icon must not be null."""
    icon = app_icon()
    if not icon.isNull():
        return icon
    themed = QIcon.fromTheme("assistant", QIcon.fromTheme("user-available"))
    if not themed.isNull():
        return themed
    return QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxQuestion)


class Tray(QObject):
    """The icon, its menu and the close-to-tray rule; `quit_app` ends the event loop (tests pass theirs)."""

    def __init__(
        self,
        window: MainWindow,
        keep_in_tray: Callable[[], bool],
        quit_app: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self._keep_in_tray = keep_in_tray  # read at each close: the setting may change while running
        self._quit_app = quit_app or QApplication.quit
        self._told_still_running = False
        self.icon = QSystemTrayIcon(tray_icon(), self)
        self.icon.setToolTip("Assistant")
        self.menu = QMenu()  # no parent widget: a tray menu must not close with the window
        self.ask_action = QAction("Ask…", self.menu)
        self.quit_action = QAction("Quit", self.menu)
        self.menu.addAction(self.ask_action)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)
        self.icon.setContextMenu(self.menu)
        self.ask_action.triggered.connect(self.ask)
        self.quit_action.triggered.connect(self.quit)
        self.icon.activated.connect(self._clicked)
        window.installEventFilter(self)  # sees the Close event before the window handles it
        window.destroyed.connect(self.menu.deleteLater)

    def show(self) -> None:
        self.icon.show()

    def ask(self) -> None:
        """Window forward, cursor in the composer: the user clicked "Ask…" to type a question."""
        bring_forward(self.window)
        self.window.composer.editor.setFocus()

    def quit(self) -> None:
        """Really quit, even when closing would only hide the window (the partial answer is kept)."""
        self.window.quitting = True
        self.window.close()  # the usual shutdown path: engine stopped, partial answer stored
        self._quit_app()  # the window may have been hidden already, so closing it ends nothing
        self.icon.hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt override
        if watched is self.window and event.type() == QEvent.Type.Close and self._hides_on_close():
            event.ignore()
            self.window.hide()
            if not self._told_still_running:
                self._told_still_running = True
                self.icon.showMessage("Assistant", STILL_RUNNING, QSystemTrayIcon.MessageIcon.Information)
            return True
        return False

    def _hides_on_close(self) -> bool:
        return not self.window.quitting and self.icon.isVisible() and self._keep_in_tray()

    def _clicked(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.ask()  # a click on the icon means "I want to ask something"


def create_tray(window: MainWindow, keep_in_tray: Callable[[], bool]) -> Tray | None:
    """The tray icon, shown; None (logged) where the desktop has no tray, e.g. GNOME without extension."""
    if not QSystemTrayIcon.isSystemTrayAvailable():
        logger.info("No system tray on this desktop: no tray icon, closing the window quits")
        return None
    tray = Tray(window, keep_in_tray)
    tray.show()
    return tray
