"""The window's layout and menus; behaviour lives in the controller."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QSplitter, QToolBar, QVBoxLayout, QWidget

from assistant.ui.chat.chat_view import ChatView
from assistant.ui.chat.sidebar import Sidebar
from assistant.ui.composer.composer import Composer
from assistant.ui.composer.file_drop import FileDrop
from assistant.ui.models.model_picker import ModelPicker
from assistant.ui.status_bar import StatusBar

DEFAULT_SIZE = (1000, 700)


class MainWindow(QMainWindow):
    closing = Signal()  # the user closed the window; the controller shuts the engine down
    first_painted = Signal()

    def __init__(self, dark: bool = False) -> None:
        super().__init__()
        self.setWindowTitle("Assistant")
        self.resize(*DEFAULT_SIZE)
        self.quitting = False  # set by Quit: a close that must not merely hide the window in the tray
        self._paint_probe = _FirstPaint(self)
        self.installEventFilter(self._paint_probe)

        self.sidebar = Sidebar()
        self.chat_view = ChatView(dark)
        self.composer = Composer()
        self.history_notice = QLabel()
        self.history_notice.setObjectName("bubbleError")
        self.history_notice.setWordWrap(True)
        self.history_notice.setContentsMargins(16, 8, 16, 0)
        self.history_notice.hide()

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(0)
        right_layout.addWidget(self.history_notice)
        right_layout.addWidget(self.chat_view, 1)
        right_layout.addWidget(self.composer)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.sidebar)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([240, DEFAULT_SIZE[0] - 240])
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)

        self.model_picker = ModelPicker()
        toolbar = QToolBar("Model")
        toolbar.setObjectName("modelToolbar")
        toolbar.setMovable(False)
        toolbar.addWidget(QLabel(" Model: "))
        toolbar.addWidget(self.model_picker)
        self.addToolBar(toolbar)

        self.status = StatusBar()
        self.setStatusBar(self.status)
        self._build_menus()

        # A file dropped anywhere on the window, or on the composer, is attached to the next question.
        self.file_drop = FileDrop(self)
        self.setAcceptDrops(True)
        self.file_drop.watch(self)
        self.file_drop.watch(self.composer.editor.viewport())  # before the editor pastes the URL as text
        self.file_drop.dropped.connect(self.composer.add_uris)
        self.file_drop.image_dropped.connect(self.composer.add_image)
        self.composer.attachment_refused.connect(self.status.show_error)
        self.attach_action.triggered.connect(self.composer.pick)
        self.composer.editor.setFocus()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.file_menu = file_menu  # File ▸ Capture is added after Attach by ui/capture/capture_actions.py
        self.new_action = _action(self, "&New chat", QKeySequence.StandardKey.New)
        self.attach_action = _action(self, "&Attach recordings, images or documents…",
                                     QKeySequence.StandardKey.Open)
        self.export_markdown_action = QAction("Export as &Markdown…", self)
        self.export_markdown_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_json_action = QAction("Export as &JSON…", self)
        self.settings_action = _action(self, "&Settings…", "Ctrl+,")
        self.quit_action = _action(self, "&Quit", QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.quit)
        file_menu.addAction(self.new_action)
        file_menu.addAction(self.attach_action)
        export_menu = file_menu.addMenu("&Export")
        export_menu.addAction(self.export_markdown_action)
        export_menu.addAction(self.export_json_action)
        file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        view_menu = self.menuBar().addMenu("&View")
        # The image library: shared images found again by what they show (ui/library/image_search.py).
        self.search_images_action = _action(self, "Search &images…", "Ctrl+Shift+F")
        view_menu.addAction(self.search_images_action)
        # The user's documents: sources, indexing, problems (ui/documents/documents_panel.py).
        self.documents_action = _action(self, "&Documents…", "Ctrl+Shift+D")
        view_menu.addAction(self.documents_action)
        models_menu = self.menuBar().addMenu("&Models")  # wired in ui/window_actions.py (ui/models_dialog.py)
        self.manage_models_action = _action(self, "&Manage models…", "Ctrl+M")
        models_menu.addAction(self.manage_models_action)
        # The Hugging Face hub browser (ui/models/browse_dialog.py): connects only once opened.
        self.browse_models_action = _action(self, "&Browse…", "Ctrl+Shift+M")
        models_menu.addAction(self.browse_models_action)
        help_menu = self.menuBar().addMenu("&Help")  # wired in app.py (ui/shortcuts_sheet.py, ui/about.py)
        self.shortcuts_action = _action(self, "&Keyboard shortcuts", QKeySequence.StandardKey.HelpContents)
        self.about_action = QAction("&About Assistant", self)
        help_menu.addAction(self.shortcuts_action)
        self.hardware_action = QAction("&Hardware and models…", self)  # the first-run panel, ui/first_run.py
        help_menu.addAction(self.hardware_action)
        help_menu.addAction(self.about_action)

    def quit(self) -> None:
        """File ▸ Quit: close for good, even when closing the window would keep it in the tray."""
        self.quitting = True
        self.close()

    def show_history_unavailable(self, reason: str) -> None:
        self.history_notice.setText(f"History is unavailable, so this session will not be saved. {reason}")
        self.history_notice.show()

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt override
        self.closing.emit()
        super().closeEvent(event)


class _FirstPaint(QObject):
    """Emits the window's `first_painted` once, then removes itself (no cost on later events)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt override
        if event.type() == QEvent.Type.Paint:
            self._window.removeEventFilter(self)
            self._window.first_painted.emit()  # the window is really on screen now
        return False


def _action(parent: QObject, text: str, shortcut: QKeySequence.StandardKey | str) -> QAction:
    action = QAction(text, parent)
    action.setShortcut(QKeySequence(shortcut))
    return action
