"""A poor OCR read is said to be one: to the model, in "What the model was told", and in the history."""

from __future__ import annotations

from pathlib import Path

from assistant.history.store import Store
from assistant.prompt import image_question
from assistant.prompt.attachments import Attachment
from assistant.prompt.grounding import Grounding, grounded_question

TEXT = "Invoice 10472, total 1,249.99, due 2024-03-15"


def test_a_poor_read_is_flagged_to_the_model_and_a_good_one_is_not() -> None:
    poor = Grounding("image", "scan.jpg", TEXT, confidence=0.71)
    good = Grounding("image", "scan.jpg", TEXT, confidence=0.97)
    told = grounded_question([poor], "What is the total?")
    assert "OCR was unsure of this text (confidence 71%)" in told
    assert told.index(TEXT) < told.index("unsure") < told.index("Question: What is the total?")
    assert "unsure" not in grounded_question([good], "What is the total?")
    assert "unsure" not in grounded_question([Grounding("image", "scan.jpg", TEXT)], "Total?")  # unknown
    two = grounded_question([poor, good], "Compare them.")  # several images: each block its own note
    assert two.count("unsure") == 1 and two.index("image 1") < two.index("unsure") < two.index("image 2")


def test_the_panel_shows_a_poor_read_and_nothing_is_said_without_text() -> None:
    shown = Grounding("image", "scan.jpg", TEXT, confidence=0.71).shown_text()
    assert shown.startswith(TEXT) and "Read with low confidence (71%)" in shown
    assert "low confidence" not in Grounding("image", "scan.jpg", TEXT, confidence=0.9).shown_text()
    assert image_question.poor_read(image_question.POOR_READ - 0.01)
    assert not image_question.poor_read(None)
    empty = image_question.image_block("", (), confidence=0.2)  # no text: nothing to be unsure of
    assert "unsure" not in empty and image_question.NO_TEXT in empty


def test_the_confidence_is_kept_with_the_question(tmp_path: Path) -> None:
    image = Attachment("image", "/home/ana/scan.jpg", "scan.jpg", 120_000)
    grounding = Grounding("image", "scan.jpg", TEXT, confidence=0.71)
    with Store(tmp_path / "history.sqlite3") as store:
        chat = store.create_conversation("scan")
        store.add_message(chat, "user", "What is the total?", prompt=grounded_question([grounding], "Total?"),
                          attachments=[image], groundings=[grounding])
    with Store(tmp_path / "history.sqlite3") as reopened:
        [message] = reopened.messages(chat)
    assert message.groundings == (grounding,)
    assert "low confidence" in message.groundings[0].shown_text()
