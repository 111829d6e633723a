"""The push-to-talk widgets (mic button and level meter) and the hold-to-talk key.

Kept apart from `push_to_talk.PushToTalk`, which owns the recording and its transcriptions: these are
only what the user touches and sees.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QProgressBar, QSizePolicy, QToolButton, QVBoxLayout, QWidget

IDLE_TEXT, RECORDING_TEXT = "Talk", "● Rec"
_MODIFIERS = (
    Qt.KeyboardModifier.ControlModifier
    | Qt.KeyboardModifier.ShiftModifier
    | Qt.KeyboardModifier.AltModifier
    | Qt.KeyboardModifier.MetaModifier
)


class MicPanel(QWidget):
    """A mic button to hold, with a thin level meter under it; the tooltip names the key (or the fault)."""

    def __init__(self, key_text: Callable[[], str]) -> None:
        super().__init__()
        self._key_text = key_text  # read when the tooltip shows: the setting may have changed
        self._unavailable = ""
        self.button = QToolButton()
        self.button.setObjectName("micButton")
        self.button.setText(IDLE_TEXT)
        self.button.setMinimumWidth(64)
        self.button.setSizePolicy(
            QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed
        )  # as wide as the meter
        self.meter = QProgressBar()
        self.meter.setObjectName("micLevel")
        self.meter.setRange(0, 100)
        self.meter.setTextVisible(False)
        self.meter.setFixedHeight(6)
        self.meter.setToolTip("Microphone level")
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.button)
        column.addWidget(self.meter)
        self.button.installEventFilter(self)
        self.update_tooltip()

    def set_available(self, available: bool, reason: str = "") -> None:
        self._unavailable = "" if available else reason
        self.button.setEnabled(available)
        self.meter.setEnabled(available)
        self.update_tooltip()

    def set_recording(self, recording: bool) -> None:
        self.button.setText(RECORDING_TEXT if recording else IDLE_TEXT)
        if not recording:
            self.meter.setValue(0)

    def set_level(self, level: float) -> None:
        self.meter.setValue(round(100 * min(max(level, 0.0), 1.0)))

    def update_tooltip(self) -> None:
        if self._unavailable:
            self.button.setToolTip(self._unavailable)
            return
        key = QKeySequence(self._key_text()).toString(QKeySequence.SequenceFormat.NativeText)
        self.button.setToolTip(f"Hold to talk, release to send (or hold {key})" if key else "Hold to talk")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt override
        if event.type() == QEvent.Type.ToolTip:
            self.update_tooltip()
        return False


class HoldKey(QObject):
    """Turns the configured key's press and release into `held` / `let_go`, ignoring auto-repeat.

    Installed as an event filter on the window and the composer's editor (where the focus usually is),
    so typing elsewhere is untouched and no application-wide filter slows every event down.
    """

    held = Signal()
    let_go = Signal()

    def __init__(self, parent: QObject, key_text: Callable[[], str], active: Callable[[], bool]) -> None:
        super().__init__(parent)
        self._key_text, self._active = key_text, active
        self.down = False  # the key started the recording now running

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt override
        kind = event.type()
        if kind == QEvent.Type.WindowDeactivate and self.down:
            self.down = False
            self.let_go.emit()  # the key's release would go to another window
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) or not isinstance(event, QKeyEvent):
            return False
        if self._active() and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            return True  # no sending half a sentence while talking
        key = QKeySequence(self._key_text())
        if key.isEmpty() or event.key() != key[0].key():
            return False
        if kind == QEvent.Type.KeyPress:
            if (event.modifiers() & _MODIFIERS) != key[0].keyboardModifiers():
                return False
            if not event.isAutoRepeat() and not self.down and not self._active():  # not mid-recording
                self.down = True
                self.held.emit()
            return True
        if event.isAutoRepeat():
            return True
        was_down, self.down = self.down, False
        if was_down:
            self.let_go.emit()
        return was_down
