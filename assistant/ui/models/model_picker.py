"""The toolbar's model list: chat models from the catalogue plus the user's own .gguf files."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox

from assistant.models.remote_server import REMOTE_MODEL, REMOTE_PREFIX
from assistant.settings import AUTOMATIC_MODEL

logger = logging.getLogger(__name__)

STATUS_NOTES = {"will assemble": "prepared on first use", "missing": "missing", "bad checksum": "damaged"}


def model_choices(
    data_dir: Path, current: str, extra: Sequence[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    """(value, label) pairs; value is what Settings.model holds (a catalogue name or a file path).

    The catalogue also lists the user's own .gguf files (models folder); those are chosen by path.
    `extra` are entries from elsewhere: the remote server (`remote_config.remote_choice`).
    """
    choices: list[tuple[str, str]] = []
    try:
        from assistant.models import (
            catalog,  # deferred: reading the catalogue is not needed to show the window
        )
        from assistant.models.fit import TEST_TAG, automatic_chat_model

        automatic = catalog.find_model(automatic_chat_model(data_dir), data_dir)
        choices.append((AUTOMATIC_MODEL, f"Automatic: {automatic.title}"))  # Settings.model "" (models.fit)
        for entry in catalog.all_models(data_dir):
            if entry.role != "chat" or TEST_TAG in entry.tags:
                continue  # speech, vision projectors and the tests' own small model are not offered
            if entry.source == "hub":
                continue  # a recommended download not made yet (once made, it is listed as its file)
            value = str(entry.path) if entry.source == "user-file" and entry.path else entry.name
            note = STATUS_NOTES.get(catalog.model_status(entry, data_dir))
            choices.append((value, f"{entry.title} ({note})" if note else entry.title))
    except Exception as error:  # a broken catalogue must not keep the window from working
        logger.warning("Could not read the model catalogue: %s", error)
    choices.extend(extra)
    if current not in {value for value, _ in choices}:
        choices.append((current, display_name(current)))
    return choices


def display_name(model: str) -> str:
    """A catalogue name as is; a path as its file name; the remote server by its label."""
    if model == AUTOMATIC_MODEL:
        return "Automatic"
    if model == REMOTE_MODEL:
        return "Remote server"
    if model.startswith(REMOTE_PREFIX):  # ModelLoaded's "Remote: <model> @ host" (the id may be a path)
        return model
    return Path(model).name if ("/" in model or "\\" in model) else model


class ModelPicker(QComboBox):
    model_chosen = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumContentsLength(28)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setToolTip("The chat model that answers your questions")
        self._filling = False
        self.currentIndexChanged.connect(self._on_changed)

    def set_choices(self, choices: list[tuple[str, str]], current: str) -> None:
        self._filling = True
        try:
            self.clear()
            for value, label in choices:
                self.addItem(label, value)
            index = self.findData(current)
            self.setCurrentIndex(max(index, 0))
        finally:
            self._filling = False

    def current_model(self) -> str:
        return str(self.currentData() or "")

    def _on_changed(self, _index: int) -> None:
        if not self._filling and self.currentIndex() >= 0:  # "" is a choice too: Automatic
            self.model_chosen.emit(self.current_model())
