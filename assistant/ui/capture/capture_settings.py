"""Settings ▸ Capture: the key that captures a region, and whether it works in every app."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QCheckBox, QFormLayout, QGroupBox, QKeySequenceEdit, QLabel

from assistant.settings import Settings
from assistant.ui.capture.global_capture_key import global_capture_availability


class CaptureSettingsGroup(QGroupBox):
    def __init__(self, settings: Settings) -> None:
        super().__init__("Capture")
        self._original = settings
        self.key = QKeySequenceEdit(QKeySequence(settings.capture_key))
        self.key.setMaximumSequenceLength(1)
        self.key.setToolTip("Press it to capture a region of the screen into the question.")
        ok, note = global_capture_availability()
        self.global_key = QCheckBox("The key works in every app: capture a region and ask")
        self.global_key.setChecked(settings.global_capture_key)  # kept for the next X11 session
        self.global_key.setEnabled(ok)
        self.global_key_note = QLabel(note)
        self.global_key_note.setWordWrap(True)
        self.global_key_note.setObjectName("settingsNote")
        privacy = QLabel("Nothing is captured until you press the key or choose Capture; the window steps "
                         "aside first, so it is never in the picture. A capture is kept only once its "
                         "question is sent.")  # fmt: skip
        privacy.setWordWrap(True)
        privacy.setObjectName("settingsNote")
        form = QFormLayout(self)
        form.addRow("Capture key", self.key)
        form.addRow("", self.global_key)
        form.addRow("", self.global_key_note)
        form.addRow("", privacy)

    def values(self) -> dict[str, object]:
        return {
            "capture_key": self.key.keySequence().toString() or self._original.capture_key,
            "global_capture_key": self.global_key.isChecked(),
        }
