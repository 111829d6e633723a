"""A vision GGUF with its projector is loaded as one and sees the question's images (issue 5).

The vision model is SmolLM2 with a generated random-weight projector (`vision_files.write_tiny_llava`):
llama.cpp really encodes the image, the answer means nothing. One thread, a few tokens.
"""

from __future__ import annotations

import dataclasses
import io
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
from cli_runner import run_assistant
from PIL import Image
from vision_files import write_tiny_llava

from assistant.chat.session import ChatSession, TurnUpdate
from assistant.history.store import Store
from assistant.host.client import EngineClient, Handler, Inbox, Ticket
from assistant.host.messages import (
    ChatRequest,
    Done,
    EngineConfig,
    Event,
    Failed,
    ModelLoaded,
    Request,
    Token,
)
from assistant.images import kept
from assistant.images.safe_image import decode_image
from assistant.prompt.attachments import Attachment
from assistant.prompt.grounding import GroundedQuestion, Grounding, grounded_question
from assistant.prompt.vision_history import MAX_EARLIER_IMAGES
from assistant.protocols import ChatMessage, GenerationOptions
from assistant.settings import Settings

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.timeout(180)

QUESTION = [ChatMessage("user", "What colour is this picture?")]
SHORT = GenerationOptions(max_tokens=6, temperature=0.0, seed=0)


@pytest.fixture(scope="module")
def vision_model(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("vision")
    model = folder / "tiny-llava-Q4_1.gguf"
    model.symlink_to(smollm2_path)
    write_tiny_llava(folder / "mmproj-model-f16.gguf", out_dim=576)
    return model


def keep_red(data_dir: Path) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "PNG")
    return str(kept.keep(decode_image(buffer.getvalue(), name="red.png"), data_dir).path)


def events_of(engine: EngineClient, config: EngineConfig, images: tuple[str, ...]) -> list[Event]:
    question = tuple(dataclasses.replace(m, images=images) for m in QUESTION)
    return list(engine.stream(ChatRequest(config, question, SHORT)))


def images_by_message(request: ChatRequest) -> dict[int, tuple[str, ...]]:
    """The images the request carries, by index into its messages (each on the message it was shared
    with)."""
    return {index: m.images for index, m in enumerate(request.messages) if m.images}


def test_vision_model_sees_a_kept_image_and_a_text_model_ignores_it(
    vision_model: Path, smollm2_path: Path, tmp_path: Path
) -> None:
    image = keep_red(tmp_path)
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(Path(image).read_bytes())
    vision = EngineConfig(model=str(vision_model), data_dir=str(tmp_path), context_size=1024, threads=1)
    text = EngineConfig(model=str(smollm2_path), data_dir=str(tmp_path), context_size=1024, threads=1)
    with EngineClient() as engine:
        seen = events_of(engine, vision, (image,))
        blind = events_of(engine, vision, ())
        refused = events_of(engine, vision, (str(outside),))  # only kept copies reach the model
        ignored = events_of(engine, text, (image,))
    [loaded] = [e for e in seen if isinstance(e, ModelLoaded)]
    assert loaded.vision and loaded.model == "tiny-llava-Q4_1"
    done = seen[-1]
    assert isinstance(done, Done) and done.status == "complete", seen[-1]
    assert any(isinstance(e, Token) for e in seen) and done.stats.template == "Llava15ChatHandler"
    assert isinstance(blind[-1], Done) and done.stats.prompt_tokens > blind[-1].stats.prompt_tokens
    assert isinstance(refused[-1], Failed) and "kept copies" in refused[-1].message
    [text_loaded] = [e for e in ignored if isinstance(e, ModelLoaded)]
    assert not text_loaded.vision
    assert isinstance(ignored[-1], Done) and ignored[-1].status == "complete"
    assert ignored[-1].stats.template == "gguf"


def test_ask_image_with_a_vision_model_sends_the_image(vision_model: Path, tmp_path: Path) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    shot = tmp_path / "red.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(shot)
    settings = {"threads": 1, "temperature": 0.0, "max_answer_tokens": 8, "context_size": 2048}
    result = run_assistant(
        "ask", "--image", str(shot), "What colour is it?", "--model", str(vision_model),
        data_dir=tmp_path / "data", config_dir=tmp_path / "config", settings=settings, timeout=170,
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "data" / "history.sqlite3") as connection:
        [(kind, details)] = connection.execute("SELECT kind, details FROM groundings").fetchall()
    assert kind == "image" and json.loads(details)["seen"] is True


# --- follow-ups: earlier images go back with their own messages (vision_history) --------------------

class RecordingClient(EngineClient):
    """The real client; also keeps every ChatRequest it is asked to send to the engine process."""

    def __init__(self, inbox: Inbox) -> None:
        super().__init__(inbox.deliver)
        self.requests: list[ChatRequest] = []

    def send(self, request: Request, on_event: Handler) -> Ticket:
        if isinstance(request, ChatRequest):
            self.requests.append(request)
        return super().send(request, on_event)


class Answer:
    """The answer's listener: the event and update that finished it."""

    def __init__(self) -> None:
        self.end: tuple[Event, TurnUpdate] | None = None

    def __call__(self, event: Event, update: TurnUpdate | None) -> None:
        if update is not None and update.finished:
            self.end = (event, update)


class Chat:
    """A ChatSession on a real history file and a real engine process."""

    def __init__(self, history: Path, data_dir: Path, model: Path, context_size: int = 1024) -> None:
        self.inbox = Inbox()  # the session's handlers run on the test's thread while it pumps
        self.client = RecordingClient(self.inbox)
        self.store = Store(history)
        settings = Settings(model=str(model), system_prompt="Be brief.", temperature=0.0,  # type: ignore[call-arg]
                            max_answer_tokens=6, context_size=context_size, threads=1)
        self.session = ChatSession(self.store, self.client, settings, data_dir, flush_interval_s=0.0)

    def ask(self, conversation_id: int | None, text: str, images: Sequence[str] = ()) -> tuple[int, Done]:
        """Ask (about `images`, kept copies, when given) and wait for the answer; (conversation, Done)."""
        grounded = None
        if images:
            groundings = tuple(Grounding("image", f"{Path(p).stem[:8]}.png", "", image=Path(p).stem)
                               for p in images)
            attachments = tuple(Attachment("image", p, f"{Path(p).stem[:8]}.png", Path(p).stat().st_size)
                                for p in images)
            grounded = GroundedQuestion(text, grounded_question(groundings, text), attachments, groundings)
        answer = Answer()
        turn = self.session.send(conversation_id, text, grounded=grounded,
                                 images=self.session.images_for(grounded), on_event=answer)
        while answer.end is None:
            assert self.inbox.pump(timeout=170), "no event from the engine for 170 s"
        event, update = answer.end
        assert isinstance(event, Done) and event.status == "complete", update.error
        assert turn.text.strip(), "the model answered nothing"
        return turn.conversation_id, event

    def close(self) -> None:
        self.client.shutdown()
        self.store.close()


def keep_colour(data_dir: Path, rgb: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), rgb).save(buffer, "PNG")
    return str(kept.keep(decode_image(buffer.getvalue(), name="shot.png"), data_dir).path)


def test_a_follow_up_shows_the_first_image_again_also_after_reopening(
    vision_model: Path, tmp_path: Path
) -> None:
    data, history = tmp_path / "data", tmp_path / "history.sqlite3"
    red = keep_colour(data, (200, 30, 30))
    chat = Chat(history, data, vision_model)
    try:
        conversation, first = chat.ask(None, "What colour is this screenshot?", [red])
        asked = chat.client.requests[-1]
        assert images_by_message(asked) == {len(asked.messages) - 1: (red,)}
        _, second = chat.ask(conversation, "And what colour is the button in that screenshot?")
    finally:
        chat.close()
    follow_up = chat.client.requests[-1]
    # The image goes with the message it was shared with (index 1, after the system prompt), not the newest.
    assert images_by_message(follow_up) == {1: (red,)}
    assert follow_up.messages[1].role == "user"
    assert "What colour is this screenshot?" in follow_up.messages[1].content
    assert [m.role for m in follow_up.messages] == ["system", "user", "assistant", "user"]
    # Both turns answered with the image evaluated: the vision handler re-encodes it every turn (no
    # KV-cache prefix reuse with images), 4 positions for the generated projector.
    assert first.stats.extra["image_tokens"] == 4 and first.stats.extra["earlier_images"] == 0
    assert second.stats.extra["earlier_images"] == 1 and second.stats.extra["image_tokens"] == 4
    assert second.stats.reused_tokens == 0 and second.stats.prompt_tokens > first.stats.prompt_tokens

    reopened = Chat(history, data, vision_model)  # a new engine process and a new store connection
    try:
        _, third = reopened.ask(conversation, "Is there any text in it?")
    finally:
        reopened.close()
    [request] = reopened.client.requests
    assert images_by_message(request) == {1: (red,)}
    assert third.stats.extra["earlier_images"] == 1


def test_earlier_images_are_bounded_and_a_text_model_gets_none(
    vision_model: Path, smollm2_path: Path, tmp_path: Path
) -> None:
    data, history = tmp_path / "data", tmp_path / "history.sqlite3"
    shots = [keep_colour(data, (40 * i, 200 - 30 * i, 90)) for i in range(6)]
    with Store(history) as store:  # three questions with two screenshots each, stored as the window does
        conversation = store.create_conversation("screenshots")
        for n in range(3):
            pair = shots[2 * n: 2 * n + 2]
            groundings = [Grounding("image", f"shot{i}.png", "", image=Path(p).stem)
                          for i, p in enumerate(pair)]
            store.add_message(conversation, "user", f"Compare these two, part {n}.",
                              prompt=grounded_question(groundings, f"Compare these two, part {n}."),
                              groundings=groundings)
            store.add_message(conversation, "assistant", f"They differ ({n}).")
    chat = Chat(history, data, vision_model)
    try:
        _, done = chat.ask(conversation, "Which of all these screenshots is the greenest?")
        chat.session.apply_settings(dataclasses.replace(chat.session.settings, model=str(smollm2_path)))
        _, text_done = chat.ask(conversation, "Which one was the first?")
    finally:
        chat.close()
    vision_request, text_request = chat.client.requests
    # At most MAX_EARLIER_IMAGES, the most recent ones, each with its own question (system prompt first).
    assert MAX_EARLIER_IMAGES == 4
    assert images_by_message(vision_request) == {3: tuple(shots[2:4]), 5: tuple(shots[4:6])}
    assert done.stats.extra["earlier_images"] == 4 and done.stats.extra["image_tokens"] == 16
    assert images_by_message(text_request) == {}
    assert text_done.stats.template == "gguf" and "earlier_images" not in text_done.stats.extra
