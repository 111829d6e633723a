"""Start the window: history first, window on screen, and only then the engine process and the model.

Start-up is kept lean on purpose (no llama_cpp, numpy or markdown here): the window must appear within
a second, and the model loads in the background with its progress in the status bar.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from assistant import settings as settings_module
from assistant.chat.session import ChatSession
from assistant.history.store import Store, StoreError
from assistant.host.client import EngineClient
from assistant.settings import Settings
from assistant.ui.bridge import EngineBridge
from assistant.ui.chat import markdown_render
from assistant.ui.chat.controller import ChatController
from assistant.ui.desktop.app_icon import app_icon
from assistant.ui.desktop.global_hotkey import GlobalPushToTalk
from assistant.ui.desktop.shortcuts_sheet import wire_help_menu
from assistant.ui.desktop.single_instance import (
    SingleInstance,
    ask_primary_to_activate,
    bring_forward,
    server_name,
)
from assistant.ui.desktop.tray import Tray, create_tray
from assistant.ui.library.image_search import ImageSearch
from assistant.ui.main_window import MainWindow
from assistant.ui.models.first_run_entry import FirstRun
from assistant.ui.qt_compat import protect_singletons
from assistant.ui.theme import apply_theme
from assistant.ui.voice.push_to_talk import PushToTalk
from assistant.ui.voice.read_aloud import ReadAloud
from assistant.ui.window_actions import WindowActions

logger = logging.getLogger(__name__)

EXIT_AFTER_SHOWN_ENV = "ASSISTANT_EXIT_AFTER_SHOWN"
ENGINE_START_FALLBACK_MS = 1500
SIGNAL_CHECK_MS = 500


@dataclass
class AssistantApp:
    """Everything one window needs, wired together (tests build it directly)."""

    window: MainWindow
    controller: ChatController
    actions: WindowActions
    session: ChatSession
    client: EngineClient
    bridge: EngineBridge
    store: Store | None
    store_error: str | None

    voice: PushToTalk | None = None
    engine_requested: bool = False
    image_search: ImageSearch | None = None
    tray: Tray | None = None
    global_voice: GlobalPushToTalk | None = None
    first_run: FirstRun | None = None
    first_run_requested: bool = False

    def start_engine(self) -> None:
        """Fill the model list, start the engine process, preload the model (after the window shows)."""
        if self.engine_requested:
            return
        self.engine_requested = True
        # The Markdown renderer loads on its own thread meanwhile, not at the first answer's first token.
        threading.Thread(target=markdown_render.warm_up, name="markdown-warm-up", daemon=True).start()
        self.actions.refresh_models()
        self.controller.start_engine()
        self.actions.documents.engine_started()  # re-scan what changed while closed, then watch
        if self.image_search is not None:  # images shared before the CLIP model: queued after the load
            self.image_search.engine_started()
        if self.voice is not None:
            # After the engine starts (its spawn is the slower part); imports numpy and sounddevice.
            self.voice.check_availability()

    def start_first_run(self) -> None:
        """First start: the hardware and models panel prepares the bundled models and measures each
        chat model, then the engine preloads the chosen one (a benchmark would unload it anyway)."""
        if self.first_run_requested or self.engine_requested:
            return  # the fallback timer after the first paint already did it
        if self.first_run is None:
            self.start_engine()
            return
        self.first_run_requested = True
        self.actions.refresh_models()
        self.first_run.open(on_finished=self.start_engine)

    def shutdown(self) -> None:
        self.actions.documents.shutdown()
        if self.global_voice is not None:
            self.global_voice.hotkey.stop()  # the key reaches other apps again
        self.controller.shutdown()


def open_store(path: Path) -> tuple[Store | None, str | None]:
    """The history, or None and why; the window opens either way."""
    try:
        store = Store(path)  # marks the answers a killed process left half-written as interrupted
    except StoreError as error:
        logger.warning("History unavailable: %s", error)
        return None, str(error)
    return store, store.damaged  # a damaged history opens read-only, with the reason shown


def build(
    app: QApplication,
    settings: Settings | None = None,
    settings_path: Path | None = None,
    sound_device: Any | None = None,
) -> AssistantApp:
    """Wire one window; `sound_device` replaces the sounddevice module (tests pass a fake)."""
    protect_singletons()  # before the first streamed answer: see qt_compat for the PySide6 bug
    loaded = None
    if settings is None:
        loaded = settings_module.read_settings(settings_path)
        settings = loaded.settings
    dark = settings.theme == "dark"
    apply_theme(app, dark)
    store, store_error = open_store(settings_module.history_path())
    data_dir = settings_module.data_dir()

    bridge = EngineBridge()
    client = EngineClient(bridge.deliver)  # every request's handler runs on the GUI thread
    # With no store the session keeps this run's history in memory, so the app still answers.
    session = ChatSession(store, client, settings, data_dir)
    window = MainWindow(dark)
    controller = ChatController(window, session, client, store)
    actions = WindowActions(controller, data_dir, settings_path)
    bridge.setParent(window)
    voice = PushToTalk(controller, data_dir, sound_device)
    # Answers read aloud: synthesised in the engine process, played through the same sound module.
    controller.read_aloud = ReadAloud(session, client, data_dir, window.status, sound_device, controller)
    image_search = ImageSearch(controller, data_dir)  # the panel itself is built when first opened
    first_run = FirstRun(controller, actions, data_dir)  # Help ▸ Hardware and models…; run_gui's first start
    window.closing.connect(controller.shutdown)
    # Desktop integration: tray, global push-to-talk key, Help menu (README "Design").
    tray = create_tray(window, lambda: session.settings.keep_in_tray)
    global_voice = GlobalPushToTalk(voice, lambda: session.settings)
    # Connected after WindowActions.open_settings, so it runs once the dialog's settings apply.
    window.settings_action.triggered.connect(global_voice.sync)
    global_voice.sync()
    wire_help_menu(window, lambda: session.settings, lambda: controller.loaded)
    if store_error:
        window.show_history_unavailable(store_error)
        window.status.show_error(store_error)
    if loaded is not None and loaded.problem:  # a damaged settings file: copied aside, said so
        window.status.show_error(loaded.problem)  # (a history problem stays in its banner)
    controller.refresh_sidebar()
    return AssistantApp(
        window, controller, actions, session, client, bridge, store, store_error, voice,
        image_search=image_search, tray=tray, global_voice=global_voice, first_run=first_run,
    )


def run_gui(argv: Sequence[str]) -> int:
    """Open the window and run until it closes; returns the exit code."""
    # Before anything heavy (even the QApplication): a running instance shows its window instead.
    instance_name = server_name(settings_module.data_dir())
    answered = ask_primary_to_activate(instance_name)
    if answered is not None:
        return _already_running(answered)
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(list(argv))
    app.setApplicationName("Assistant")
    app.setDesktopFileName("assistant")  # matches packaging/assistant.desktop
    app.setWindowIcon(app_icon())
    instance = SingleInstance(instance_name, app)
    if not instance.listen() and (answered := ask_primary_to_activate(instance_name)) is not None:
        return _already_running(answered)  # another launch became the primary a moment ago
    app.aboutToQuit.connect(instance.close)
    parts = build(app)
    instance.activation_requested.connect(lambda: _bring_forward(parts))
    if os.environ.get(EXIT_AFTER_SHOWN_ENV) == "1":
        # Start-up benchmark: report when the window first paints, then quit without an engine.
        parts.window.first_painted.connect(lambda: _report_shown(app))
        parts.window.show()
        code = app.exec()
        parts.shutdown()
        return code
    # The engine starts after the first paint, so the window is on screen before any model work.
    # The very first start opens the hardware and models panel instead; it starts the engine when done.
    start = parts.start_engine if parts.session.settings.first_run_done else parts.start_first_run
    parts.window.first_painted.connect(lambda: QTimer.singleShot(0, start))
    QTimer.singleShot(ENGINE_START_FALLBACK_MS, start)  # in case no paint event arrives
    parts.window.show()
    parts.window.composer.editor.setFocus()
    app.aboutToQuit.connect(parts.shutdown)
    _quit_on_signals(app, parts.window)
    return app.exec()


def _bring_forward(parts: AssistantApp) -> None:
    bring_forward(parts.window)
    parts.window.composer.editor.setFocus()
    logger.info("Window brought forward for a second launch")


def _already_running(answered: bool) -> int:
    if answered:
        logger.info("Assistant is already running: its window was brought forward")
        return 0
    sys.stderr.write(
        "Assistant is already running but did not answer. If it is stuck, end it and start again.\n"
    )
    return 1


def _quit_on_signals(app: QApplication, window: MainWindow) -> None:
    """Ctrl+C or a TERM quits like the Quit menu: the partial answer is kept, the engine shut down.

    Through the window's own Quit, not just `app.quit()`: Qt 6 first asks every window to close and
    gives up quitting when one refuses, which the window kept in the tray does (found on Xvfb with a
    tray: a TERM at logout left the app running)."""

    def quit_now(*_: object) -> None:
        window.quit()  # marks the close as final, so the tray does not keep the window
        app.quit()  # the window may have been hidden in the tray already: closing it ends nothing

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, quit_now)
    # Python runs signal handlers only between bytecodes; an idle timer gives it the chance while Qt waits.
    ticker = QTimer(app)
    ticker.timeout.connect(lambda: None)
    ticker.start(SIGNAL_CHECK_MS)


def _report_shown(app: QApplication) -> None:
    sys.stdout.write(f"window-shown {seconds_since_start():.3f}\n")
    sys.stdout.flush()
    QTimer.singleShot(0, app.quit)


def seconds_since_start() -> float:
    """Seconds since the process started: from `assistant._START` if recorded, else from /proc."""
    import assistant

    start = getattr(assistant, "_START", None)
    if isinstance(start, float):
        return time.perf_counter() - start
    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22: start time in clock ticks
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.process_time()  # last resort: CPU time is a lower bound of wall time
