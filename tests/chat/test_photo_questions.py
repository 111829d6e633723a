"""A real photo asked about through the real engine and the small bundled chat model, as a new user
would: the cat saved as chelsea.png is called a cat, never "Chelsea" (before issue 14 the model read
the file name as the content), and the astronaut gets the app's own answer without a model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.bench.vision_photos import photo_dir
from assistant.chat.grounding_job import GroundingJob
from assistant.chat.session import ChatSession, TurnUpdate
from assistant.history.store import Store
from assistant.host.client import EngineClient, Inbox
from assistant.host.messages import Event
from assistant.prompt.attachments import from_path
from assistant.settings import Settings

pytest.importorskip("llama_cpp")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SMALL_BUNDLED = "qwen2.5-coder-0.5b-instruct"  # named: the automatic choice may be the 1.5B here
QUESTION = "What is in this picture?"


def answer(photo: Path, data_dir: Path, library: Path) -> tuple[str, TurnUpdate | None, str]:
    """(the answer, its last update or None when the app answered itself, the prompt the model got)."""
    settings = Settings(model=SMALL_BUNDLED, threads=1, max_answer_tokens=48, temperature=0.0, seed=1)
    inbox = Inbox()
    store = Store(library / "history.sqlite3")
    with EngineClient(inbox.deliver) as client:
        session = ChatSession(store, client, settings, data_dir)
        job = GroundingJob(client, settings, library, [from_path(photo)], QUESTION,
                           prefill_for=lambda start: session.prefill_request(None, start))
        job.start()
        inbox.pump_until(lambda: job.finished)
        grounded = job.last_update.result
        assert grounded is not None, job.last_update.error
        finished: list[TurnUpdate] = []

        def listener(_event: Event, update: TurnUpdate | None) -> None:
            if update is not None and update.finished:
                finished.append(update)

        turn = session.send(None, QUESTION, grounded=grounded, on_event=listener)
        if turn.answered:
            store.close()
            return turn.text, None, grounded.prompt
        inbox.pump_until(lambda: bool(finished))
    store.close()
    return turn.text, finished[0], grounded.prompt


def test_a_cat_photo_named_chelsea_is_a_cat_to_the_model(shared_data_dir: Path, tmp_path: Path) -> None:
    photo = Path(shutil.copy(photo_dir() / "chelsea.png", tmp_path / "chelsea.png"))
    text, update, prompt = answer(photo, shared_data_dir, tmp_path)
    assert update is not None and update.status == "complete", update
    assert "chelsea" not in prompt.lower() and "chelsea" not in text.lower(), text
    assert "cat" in text.lower(), text


def test_the_astronaut_gets_the_apps_own_answer_and_no_model_is_asked(
    shared_data_dir: Path, tmp_path: Path
) -> None:
    photo = Path(shutil.copy(photo_dir() / "astronaut.png", tmp_path / "astronaut.png"))
    text, update, _prompt = answer(photo, shared_data_dir, tmp_path)
    assert update is None  # answered by the app
    assert text.startswith("I can't tell what this image shows") and "gemma-3-4b-it-vision" in text
