"""Settings ▸ Sampling: each sampler setting is "Automatic" or a value the user fixes.

Automatic (None in Settings) means `chat/sampling.py` chooses per model and question: greedy for short
factual questions, a low temperature on small models, the model file's recommendation when it has one.
A spin box shows "Automatic" at its lowest position, as the threads and GPU layers boxes do.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDoubleSpinBox, QFormLayout, QLabel, QSpinBox, QWidget

from assistant.chat.sampling import SEED_LIMIT
from assistant.settings import Settings

AUTOMATIC = "Automatic (per model and question)"


class SamplingGroup(QWidget):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.temperature = _real(settings.temperature, 0.0, 2.0, 0.05, "0 answers greedily")
        self.top_k = _whole(settings.top_k, 0, 1000, "0 keeps the whole vocabulary")
        self.top_p = _real(settings.top_p, 0.0, 1.0, 0.05, "1 turns it off")
        self.min_p = _real(settings.min_p, 0.0, 1.0, 0.01, "0 turns it off")
        self.repeat_penalty = _real(settings.repeat_penalty, 0.5, 2.0, 0.05, "1 turns it off")
        self.seed = _whole(settings.seed, 0, SEED_LIMIT - 1, "a fixed seed repeats an answer",
                           special="A fresh seed for every answer")
        note = QLabel(
            "Automatic answers short factual questions greedily and samples other answers at a low "
            "temperature on small models (0.3 with min-p 0.1 under 3B weights, 0.7 above), unless the "
            "model file recommends its own values. Every answer records what it used.")
        note.setWordWrap(True)
        note.setObjectName("settingsNote")
        form = QFormLayout(self)
        form.addRow("Temperature", self.temperature)
        form.addRow("Top-k", self.top_k)
        form.addRow("Top-p", self.top_p)
        form.addRow("Min-p", self.min_p)
        form.addRow("Repeat penalty", self.repeat_penalty)
        form.addRow("Seed", self.seed)
        form.addRow("", note)

    def values(self) -> dict[str, float | int | None]:
        """Settings fields; None where the box is on Automatic."""
        return {"temperature": _value(self.temperature), "top_k": _value(self.top_k),
                "top_p": _value(self.top_p), "min_p": _value(self.min_p),
                "repeat_penalty": _value(self.repeat_penalty), "seed": _value(self.seed)}


def _real(value: float | None, low: float, high: float, step: float, tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setDecimals(2)
    box.setRange(low - step, high)  # one step below the range is "Automatic"
    box.setSingleStep(step)
    box.setSpecialValueText(AUTOMATIC)
    box.setValue(box.minimum() if value is None else value)
    box.setToolTip(tip)
    return box


def _whole(value: int | None, low: int, high: int, tip: str, special: str = AUTOMATIC) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low - 1, high)
    box.setSpecialValueText(special)
    box.setValue(box.minimum() if value is None else value)
    box.setToolTip(tip)
    return box


def _value(box: QSpinBox | QDoubleSpinBox) -> float | int | None:
    return None if box.value() == box.minimum() else box.value()
