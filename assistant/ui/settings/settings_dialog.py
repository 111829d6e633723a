"""Settings: model, system prompt, sampling, context and threads, GPU layers, theme, voice.

Saving is atomic (settings.save_settings); if it fails the dialog stays open and says why, so nothing
the user typed is lost.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QKeySequenceEdit,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QSystemTrayIcon,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from assistant.models.pick_choices import speech_model_choices
from assistant.settings import Settings, data_dir, save_settings
from assistant.ui.capture.capture_settings import CaptureSettingsGroup
from assistant.ui.desktop.global_hotkey import availability as global_key_availability
from assistant.ui.settings.remote_settings import RemoteServerGroup
from assistant.ui.settings.sampling_settings import SamplingGroup

logger = logging.getLogger(__name__)

LANGUAGES = [("", "Detect automatically"), ("en", "English"), ("de", "German"), ("fr", "French"),
             ("es", "Spanish"), ("it", "Italian"), ("pt", "Portuguese"), ("nl", "Dutch"), ("pl", "Polish"),
             ("ru", "Russian"), ("zh", "Chinese"), ("ja", "Japanese")]  # fmt: skip


class SettingsDialog(QDialog):
    def __init__(
        self,
        settings: Settings,
        model_choices: list[tuple[str, str]],
        parent: QWidget | None = None,
        path: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)
        self._original = settings
        self._path = path
        self.saved_settings: Settings | None = None

        self.model = QComboBox()
        for value, label in model_choices:
            self.model.addItem(label, value)
        if self.model.findData(settings.model) < 0:
            self.model.addItem(settings.model, settings.model)
        self.model.setCurrentIndex(self.model.findData(settings.model))

        self.system_prompt = QPlainTextEdit(settings.system_prompt)
        self.system_prompt.setFixedHeight(96)
        self.context_size = _spin(512, 131072, settings.context_size, step=512, suffix=" tokens")
        self.max_answer_tokens = _spin(16, 8192, settings.max_answer_tokens, step=128, suffix=" tokens")
        self.threads = _spin(0, 256, settings.threads, special="Automatic")
        self.gpu_layers = _spin(-1, 1000, settings.gpu_layers, special="Automatic (all if possible)")
        self.theme = QComboBox()
        self.theme.addItem("Light", "light")
        self.theme.addItem("Dark", "dark")
        self.theme.setCurrentIndex(max(self.theme.findData(settings.theme), 0))

        form = QFormLayout()
        form.addRow("Model", self.model)
        form.addRow("System prompt", self.system_prompt)
        form.addRow("Context size", self.context_size)
        form.addRow("Longest answer", self.max_answer_tokens)
        form.addRow("CPU threads", self.threads)
        form.addRow("GPU layers", self.gpu_layers)
        form.addRow("Theme", self.theme)
        self.keep_in_tray = QCheckBox("Keep running in the tray when the window is closed")
        self.keep_in_tray.setChecked(settings.keep_in_tray)
        if not QSystemTrayIcon.isSystemTrayAvailable():
            self.keep_in_tray.setEnabled(False)
            self.keep_in_tray.setToolTip("This desktop has no system tray, so closing the window quits.")
        form.addRow("", self.keep_in_tray)

        voice = self._voice_group(settings)
        self.remote = RemoteServerGroup(settings)
        self.sampling = SamplingGroup(settings)
        self.capture = CaptureSettingsGroup(settings)

        self.error = QLabel()
        self.error.setObjectName("composerError")
        self.error.setWordWrap(True)
        self.error.hide()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        # Tabs keep the dialog within a small laptop screen (one long form was ~760 px tall).
        general = QWidget()
        general.setLayout(form)
        self.tabs = QTabWidget()
        self.tabs.addTab(general, "General")
        self.tabs.addTab(self.sampling, "Sampling")
        self.tabs.addTab(voice, "Voice")
        self.tabs.addTab(self.capture, "Capture")
        self.tabs.addTab(self.remote, "Remote server")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def edited_settings(self) -> Settings:
        return dataclasses.replace(
            self._original,
            model=str(self.model.currentData() or self._original.model),
            system_prompt=self.system_prompt.toPlainText(),
            **self.sampling.values(),
            context_size=self.context_size.value(),
            max_answer_tokens=self.max_answer_tokens.value(),
            threads=self.threads.value(),
            gpu_layers=self.gpu_layers.value(),
            theme=str(self.theme.currentData()),
            speech_model=str(self.speech_model.currentData() or self.speech_model.currentText()),
            push_to_talk_key=self._key_text(),
            send_on_release=self.send_on_release.isChecked(),
            speech_language=str(self.speech_language.currentData() or ""),
            translate_to_english=self.translate.isChecked(),
            answer_in_spoken_language=self.answer_in_language.isChecked(),
            read_aloud=self.read_aloud.isChecked(),
            global_push_to_talk=self.global_key.isChecked(),
            keep_in_tray=self.keep_in_tray.isChecked(),
            **self.remote.values(),
            **self.capture.values(),  # type: ignore[arg-type]
        ).validated()

    def _key_text(self) -> str:
        return self.push_to_talk_key.keySequence().toString() or self._original.push_to_talk_key

    def _voice_group(self, settings: Settings) -> QGroupBox:
        # From the catalogue: a Whisper model downloaded from Models ▸ Recommended is listed too.
        self.speech_model = _choice(speech_model_choices(data_dir()), settings.speech_model)
        self.push_to_talk_key = QKeySequenceEdit(QKeySequence(settings.push_to_talk_key))
        self.push_to_talk_key.setMaximumSequenceLength(1)  # one key (with modifiers) to hold down
        self.push_to_talk_key.setToolTip("Hold this key to talk; release it to stop.")
        # Global key: only where the platform lets an app see keys typed into other apps (X11).
        global_ok, global_note = global_key_availability()
        self.global_key = QCheckBox("The key works in every app, not only in this window")
        self.global_key.setChecked(settings.global_push_to_talk)  # kept for the next X11 session
        self.global_key.setEnabled(global_ok)
        self.global_key_note = QLabel(global_note)
        self.global_key_note.setWordWrap(True)
        self.global_key_note.setObjectName("settingsNote")
        self.send_on_release = QCheckBox("Send the question when the key or button is released")
        self.send_on_release.setChecked(settings.send_on_release)
        self.speech_language = _choice(LANGUAGES, settings.speech_language)
        self.translate = QCheckBox("Translate what I say into English")
        self.translate.setChecked(settings.translate_to_english)
        self.answer_in_language = QCheckBox("Answer in the language I spoke")
        self.answer_in_language.setChecked(settings.answer_in_spoken_language)
        self.read_aloud = QCheckBox("Read answers aloud")
        self.read_aloud.setChecked(settings.read_aloud)
        self.read_aloud.setToolTip("Each sentence is spoken as soon as it is written; Esc silences it.")
        group = QGroupBox("Voice")
        form = QFormLayout(group)
        form.addRow("Speech model", self.speech_model)
        form.addRow("Push-to-talk key", self.push_to_talk_key)
        form.addRow("", self.global_key)
        form.addRow("", self.global_key_note)
        form.addRow("", self.send_on_release)
        form.addRow("Spoken language", self.speech_language)
        form.addRow("", self.translate)
        form.addRow("", self.answer_in_language)
        form.addRow("", self.read_aloud)
        return group

    def done(self, result: int) -> None:  # Qt override: every way the dialog closes
        self.remote.stop_testing()  # a connection test still running gives up
        super().done(result)

    def accept(self) -> None:
        """Save first; close only when the file is written."""
        settings = self.edited_settings()
        try:
            save_settings(settings, self._path)
        except OSError as error:
            logger.warning("Settings not saved: %s", error)
            self.error.setText(f"Your settings could not be saved: {error}. Nothing was changed.")
            self.error.show()
            return
        self.saved_settings = settings
        super().accept()


def _spin(low: int, high: int, value: int, *, step: int = 1, suffix: str = "", special: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setValue(value)
    box.setSuffix(suffix)
    if special:
        box.setSpecialValueText(special)  # shown for the minimum, which means "automatic"
    return box


def _choice(items: list[tuple[str, str]], current: str) -> QComboBox:
    box = QComboBox()
    for value, label in items:
        box.addItem(label, value)
    if box.findData(current) < 0:
        box.addItem(current, current)  # the user's own model folder or language code
    box.setCurrentIndex(box.findData(current))
    return box
