"""Bottom line of the window: what the app is doing, the model, its load progress, the last answer's speed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QSizePolicy, QStatusBar

from assistant.ui.chat.message_bubble import describe_timings

MAX_SHOWN_CHARS = 160  # longer errors are cut here; the tooltip keeps the whole text


class StatusBar(QStatusBar):
    def __init__(self) -> None:
        super().__init__()
        self.message = QLabel()
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # messages name files: markup stays text
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.stats = QLabel()
        self.model = QLabel()
        self.addWidget(self.message, 1)
        self.addPermanentWidget(self.progress)
        self.addPermanentWidget(self.stats)
        self.addPermanentWidget(self.model)
        self.last_error = ""

    def show_info(self, text: str) -> None:
        self.message.setObjectName("statusInfo")
        self._set_message(text)

    def show_error(self, text: str) -> None:
        self.last_error = text
        self.message.setObjectName("statusError")
        self._set_message(text)

    def _set_message(self, text: str) -> None:
        one_line = " ".join(text.split())
        shown = one_line if len(one_line) <= MAX_SHOWN_CHARS else one_line[: MAX_SHOWN_CHARS - 1] + "…"
        self.message.setText(shown)
        self.message.setToolTip(text)
        self.message.style().unpolish(self.message)  # the object name picks the colour rule
        self.message.style().polish(self.message)

    def set_model(self, name: str) -> None:
        self.model.setText(f"Model: {name}")

    def set_progress(self, stage: str, done: int, total: int) -> None:
        """Assembling counts bytes, loading a 0..1 fraction; both become a percentage bar."""
        label = {"assemble": "Preparing model", "load": "Loading model"}.get(stage, stage.capitalize())
        self.progress.show()
        self.progress.setRange(0, 100 if total > 0 else 0)  # total 0: unknown, a busy bar
        if total > 0:
            self.progress.setValue(min(100, int(100 * done / total)))
        self.progress.setFormat(f"{label} %p%")

    def hide_progress(self) -> None:
        self.progress.hide()

    def set_stats(self, timings: dict) -> None:
        self.stats.setText(describe_timings(timings))
