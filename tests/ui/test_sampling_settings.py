"""Settings ▸ Sampling, the model picker's Automatic entry and the sampling shown under an answer."""

from __future__ import annotations

from pathlib import Path

from assistant.history.types import StoredMessage
from assistant.settings import AUTOMATIC_MODEL, Settings, load_settings
from assistant.ui.chat.chat_view import ChatView
from assistant.ui.chat.message_bubble import describe_timings
from assistant.ui.models.model_picker import ModelPicker, display_name, model_choices
from assistant.ui.settings.sampling_settings import AUTOMATIC
from assistant.ui.settings.settings_dialog import SettingsDialog


def test_every_sampling_box_starts_automatic_and_a_fixed_value_is_saved(qtbot, app_dirs: Path) -> None:
    path = app_dirs / "config" / "settings.json"
    dialog = SettingsDialog(Settings(), [("", "Automatic"), ("m", "Model")], path=path)
    qtbot.addWidget(dialog)
    boxes = dialog.sampling
    assert all(box.text() == AUTOMATIC for box in (boxes.temperature, boxes.top_k, boxes.min_p))
    assert boxes.seed.text() == "A fresh seed for every answer"
    assert set(boxes.values().values()) == {None}

    boxes.temperature.setValue(0.2)
    boxes.seed.setValue(42)
    dialog.accept()
    saved = load_settings(path)
    assert (saved.temperature, saved.seed, saved.top_k, saved.min_p) == (0.2, 42, None, None)
    assert saved.model == AUTOMATIC_MODEL

    again = SettingsDialog(saved, [("", "Automatic")], path=path)
    qtbot.addWidget(again)
    assert again.sampling.temperature.value() == 0.2 and again.sampling.seed.value() == 42
    again.sampling.temperature.setValue(again.sampling.temperature.minimum())  # back to Automatic
    again.accept()
    assert load_settings(path).temperature is None and load_settings(path).seed == 42


def test_the_picker_offers_automatic_first_and_never_the_test_model(qtbot, app_dirs: Path) -> None:
    choices = model_choices(app_dirs / "data", AUTOMATIC_MODEL)
    value, label = choices[0]
    assert value == AUTOMATIC_MODEL and label.startswith("Automatic: Qwen2.5-Coder")
    assert "smollm2-135m-instruct" not in [v for v, _ in choices]
    assert display_name(AUTOMATIC_MODEL) == "Automatic"

    picker = ModelPicker()
    qtbot.addWidget(picker)
    picker.set_choices(choices, "qwen2.5-coder-0.5b-instruct")
    chosen: list[str] = []
    picker.model_chosen.connect(chosen.append)
    picker.setCurrentIndex(0)
    assert chosen == [AUTOMATIC_MODEL]  # "" is a choice the window saves


def test_an_answer_shows_how_it_was_sampled() -> None:
    timings = {"first_token_s": 0.21, "tokens_per_s": 45.3}
    greedy = {"temperature": 0.0, "seed": 9, "task": "factual"}
    assert describe_timings({**timings, "sampling": greedy}) == \
        "0.21 s to first token · 45.3 tokens/s · greedy"
    sampled = {"temperature": 0.3, "seed": 1234, "task": "open"}
    assert describe_timings({**timings, "sampling": sampled}).endswith("· temperature 0.3, seed 1234")
    assert describe_timings(timings) == "0.21 s to first token · 45.3 tokens/s"


def test_a_stored_answer_shows_its_sampling_with_every_value_on_hover(qtbot) -> None:
    record = {"temperature": 0.3, "top_k": 40, "top_p": 0.95, "min_p": 0.1, "repeat_penalty": 1.0,
              "seed": 77, "task": "open", "reason": "a small model (630M); a fresh seed."}
    view = ChatView()
    qtbot.addWidget(view)
    view.show_messages([
        StoredMessage(1, 1, "user", "Write a haiku.", "complete", None, {}, 0.0),
        StoredMessage(2, 1, "assistant", "Rain on the roof…", "complete", "qwen", {"tokens_per_s": 20.0}, 1.0,
                      sampling=record),
        StoredMessage(3, 1, "assistant", "Older answer", "complete", "qwen", {"tokens_per_s": 20.0}, 2.0),
    ])
    answer, older = view.bubble(2), view.bubble(3)
    assert answer is not None and older is not None
    assert answer.meta.text() == "20.0 tokens/s · temperature 0.3, seed 77"
    assert answer.meta.toolTip().startswith("Sampling: temperature 0.3, top-k 40, top-p 0.95, min-p 0.1")
    assert "a small model" in answer.meta.toolTip()
    assert older.meta.text() == "20.0 tokens/s" and older.meta.toolTip() == ""  # recorded before schema 3
