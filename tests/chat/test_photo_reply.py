"""A photo the app cannot recognise gets the app's own answer, not a model's invention; a recognised
one reaches the model with its guesses. The job runs against scripted engine events (exact, instant);
the real engine and models answer the same photos in tests/chat/test_photo_questions.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scripted_engine import make_job
from vision_files import write_model, write_projector

from assistant.chat.image_reply import ANSWERED_BY
from assistant.history.store import Store
from assistant.host.messages import Done, ImagePerceived, Transcript
from assistant.prompt.attachments import Attachment
from assistant.protocols import GenerationStats, Segment

ASTRONAUT = Attachment("image", "/photos/astronaut.png", "astronaut.png", 400_000)
CAT = Attachment("image", "/photos/chelsea.png", "chelsea.png", 300_000)
TALK = Attachment("audio", "/recordings/talk.wav", "talk.wav", 1000)
UNSURE = (("football helmet", 0.162), ("bobsleigh", 0.1098), ("go-kart", 0.0643))
CATS = (("a cat having a striped coat", 0.3845), ("Egyptian Mau", 0.3655), ("tabby cat", 0.1691))


def perceived(request_id: int, guesses: Any, text: str = "") -> Done:
    """The end of a PerceiveRequest: Done with the classifier's guesses and any text read."""
    found = ImagePerceived("ab" * 32, "PNG", 512, 512, text, (), guesses=guesses)
    return Done(request_id, "complete", GenerationStats(), result=found)


def done(request_id: int) -> Done:
    return Done(request_id, "complete", GenerationStats())


def test_an_unrecognised_photo_is_answered_by_the_app_with_what_it_saw_and_the_models_to_get() -> None:
    job, client = make_job([ASTRONAUT], "What is in this picture?")
    job.start()
    final = job.handle(perceived(1, UNSURE))
    assert final is not None and final.finished and final.result is not None
    result = final.result
    assert result.reply is not None and result.answered_by == ANSWERED_BY
    assert [kind for kind, _ in client.requests] == ["perceive"]  # no model was asked
    assert "found no text" in result.reply and "football helmet (16%)" in result.reply
    # The recommended downloads that see images, from the catalogue, each with its one command.
    assert "assistant models install gemma-3-4b-it-vision" in result.reply
    assert "assistant models install clip-vit-b-32-openai" in result.reply
    (image,) = result.groundings
    assert image.guesses == UNSURE and image.source == "astronaut.png"  # shown and stored as usual


def test_a_recognised_photo_goes_to_the_model_with_its_guesses() -> None:
    job, _ = make_job([CAT], "What is in this picture?")
    job.start()
    final = job.handle(perceived(1, CATS))
    assert final is not None and final.result is not None and final.result.reply is None
    assert "Egyptian Mau (37%)" in final.result.prompt and "chelsea" not in final.result.prompt.lower()
    # Text in the photo is something to go on too, however unsure the classifier is.
    job, _ = make_job([ASTRONAUT], "What does the badge say?")
    job.start()
    final = job.handle(perceived(1, UNSURE, text="NASA"))
    assert final is not None and final.result is not None and final.result.reply is None


def test_beside_a_recording_the_model_answers_even_for_an_unrecognised_photo() -> None:
    job, _ = make_job([TALK, ASTRONAUT], "Does the talk mention this?")
    job.start()
    job.handle(Transcript(1, Segment(0.0, 2.0, " We launched the mission in May.")))
    job.handle(done(1))
    final = job.handle(perceived(2, UNSURE))
    assert final is not None and final.result is not None and final.result.reply is None
    assert "could not tell what the image shows" in final.result.prompt


def test_a_model_that_sees_images_gets_the_photo_instead_of_the_apps_answer(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    model = write_model(models / "tiny-vl-Q4_K_M.gguf", width=64)
    write_projector(models / "mmproj-tiny-vl-f16.gguf", out_dim=64)
    job, _ = make_job([ASTRONAUT], "What is in this picture?", model=str(model), data_dir=tmp_path)
    job.start()
    final = job.handle(perceived(1, UNSURE))
    assert final is not None and final.result is not None and final.result.reply is None


def test_the_apps_answer_is_stored_complete_and_says_who_answered(tmp_path: Path) -> None:
    from assistant.chat.session import ChatSession
    from assistant.settings import Settings

    job, client = make_job([ASTRONAUT], "What is in this picture?")
    job.start()
    final = job.handle(perceived(1, UNSURE))
    assert final is not None and final.result is not None
    store = Store(tmp_path / "history.sqlite3")
    try:
        session = ChatSession(store, client, Settings(threads=1), tmp_path)  # type: ignore[arg-type]
        turn = session.send(None, final.result.question, grounded=final.result)
        assert turn.answered and len(client.requests) == 1  # still only the perceive request
        question, answer = store.messages(turn.conversation_id)
        assert answer.text == final.result.reply and answer.status == "complete"
        assert answer.timings.get("answered_by") == ANSWERED_BY
        assert question.groundings[0].guesses == UNSURE  # the guesses survive the store
    finally:
        store.close()
