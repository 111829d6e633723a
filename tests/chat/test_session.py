"""ChatSession with the real engine process (SmolLM2-135M) and a real history file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from model_files import smollm2_path

from assistant.chat.session import ChatSession, QuestionTooLong, Turn, TurnListener, TurnUpdate
from assistant.history.store import Store
from assistant.host.client import EngineClient, Handler, Inbox, Ticket, is_terminal
from assistant.host.messages import ChatRequest, Done, Event, Failed, Request, Token
from assistant.prompt.attachments import Attachment
from assistant.prompt.grounding import GroundedQuestion, Grounding, grounded_question
from assistant.protocols import ChatMessage
from assistant.settings import Settings

pytestmark = pytest.mark.timeout(180)

LONG_QUESTION = "Count from 1 to 500, separated by commas. Write every number."



class RecordingClient(EngineClient):
    """The real client; also remembers what each chat request was given, and its handler."""

    def __init__(self, inbox: Inbox) -> None:
        super().__init__(inbox.deliver)
        self.sent: list[tuple[ChatMessage, ...]] = []
        self.prefilled: list[tuple[ChatMessage, ...]] = []
        self.images: list[tuple[str, ...]] = []
        self.handlers: list[Handler] = []

    def send(self, request: Request, on_event: Handler) -> Ticket:
        if isinstance(request, ChatRequest):
            (self.prefilled if request.prefill_only else self.sent).append(request.messages)
            if not request.prefill_only:
                self.images.append(request.messages[-1].images)
        self.handlers.append(on_event)
        return super().send(request, on_event)


class ListeningSession(ChatSession):
    """The session with the harness's listener on every question (the window passes its own)."""

    def __init__(self, *args: Any, listener: TurnListener, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.listener = listener

    def send(self, *args: Any, **kwargs: Any) -> Turn:
        return super().send(*args, on_event=self.listener, **kwargs)


class Harness:
    def __init__(self, store: Store | None, model: Path, tmp: Path, **settings: object) -> None:
        self.inbox = Inbox()  # handlers run on the test's thread while it pumps, as on the GUI thread
        self.client = RecordingClient(self.inbox)
        self.updates: list[TurnUpdate] = []
        defaults: dict[str, object] = {
            "model": str(model),
            "temperature": 0.0,
            "max_answer_tokens": 48,
            "context_size": 2048,
            # One thread: llama.cpp with a thread per core crawls when other work shares the cores.
            "threads": 1,
        }
        self.settings = Settings(**{**defaults, **settings})  # type: ignore[arg-type]
        self.session = ListeningSession(store, self.client, self.settings, tmp / "data", flush_interval_s=0.0,
                                        listener=self._listen)
        self._on_update: Callable[[TurnUpdate], None] | None = None

    def _listen(self, event: Event, update: TurnUpdate | None) -> None:
        if update is not None:
            self.updates.append(update)
            if self._on_update is not None:
                self._on_update(update)

    def finish(self, turn: Turn, on_update: Callable[[TurnUpdate], None] | None = None) -> list[TurnUpdate]:
        """Pump until the turn's answer ends; its updates, in order."""
        first = len(self.updates)
        self._on_update = on_update
        try:
            self.inbox.pump_until(lambda: any(u.finished for u in self.updates[first:]))
        finally:
            self._on_update = None
        updates = self.updates[first:]
        assert all(u.turn is turn for u in updates)
        return updates


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "history.sqlite3") as opened:
        yield opened


@pytest.fixture
def harness(store: Store, tmp_path: Path) -> Iterator[Harness]:
    made = Harness(store, smollm2_path(), tmp_path)
    yield made
    made.client.shutdown()


def test_question_is_saved_first_and_answer_streams_into_the_store(harness: Harness, store: Store) -> None:
    turn = harness.session.send(None, "What is the capital of France?")
    assert store.get_conversation(turn.conversation_id).title == "What is the capital of France?"
    user, answer = store.messages(turn.conversation_id)
    assert (user.role, user.text, user.status) == ("user", "What is the capital of France?", "complete")
    assert (answer.role, answer.status) == ("assistant", "streaming")
    assert harness.session.active_turn is turn

    partial_saved: list[bool] = []

    def check_partial(update: TurnUpdate) -> None:
        if not update.finished:  # flush_interval 0: every token is on disk as it arrives
            partial_saved.append(store.messages(turn.conversation_id)[1].text == turn.text)

    updates = harness.finish(turn, check_partial)
    final = updates[-1]
    assert final.status == "complete" and final.error is None
    assert partial_saved and all(partial_saved)
    stored = store.messages(turn.conversation_id)[1]
    assert stored.status == "complete" and stored.text == turn.text and turn.text.strip()
    assert stored.timings["completion_tokens"] > 0 and "tokens_per_s" in stored.timings
    assert harness.session.active_turn is None

    # The second question carries the first exchange as history, after the system prompt.
    second = harness.session.send(turn.conversation_id, "And of Italy?")
    sent = harness.client.sent[-1]
    assert [m.role for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[2].content == turn.text and sent[3].content == "And of Italy?"
    harness.finish(second)


def test_blank_and_huge_questions_are_refused_before_saving(harness: Harness, store: Store) -> None:
    with pytest.raises(ValueError, match="Type a question first"):
        harness.session.send(None, "  \n ")
    with pytest.raises(QuestionTooLong, match="too long"):
        harness.session.send(None, "word " * 200_000)
    assert store.list_conversations() == []
    assert harness.client.sent == []


def test_stop_keeps_the_partial_answer(harness: Harness, store: Store) -> None:
    harness.session.apply_settings(Settings(**{**harness.settings.__dict__, "max_answer_tokens": 1500}))
    turn = harness.session.send(None, LONG_QUESTION)

    def stop_after_some_text(update: TurnUpdate) -> None:
        if not update.finished and len(turn.text) > 10:
            harness.session.stop()

    final = harness.finish(turn, stop_after_some_text)[-1]
    assert final.status == "stopped"
    stored = store.messages(turn.conversation_id)[1]
    assert stored.status == "stopped" and stored.text == turn.text and len(stored.text) > 10


def test_engine_crash_marks_the_answer_interrupted_and_next_question_works(
    harness: Harness, store: Store
) -> None:
    harness.session.apply_settings(Settings(**{**harness.settings.__dict__, "max_answer_tokens": 1500}))
    turn = harness.session.send(None, LONG_QUESTION)

    def kill_after_some_text(update: TurnUpdate) -> None:
        if not update.finished and len(turn.text) > 10 and harness.client.engine_pid:
            harness.client.kill_engine()

    final = harness.finish(turn, kill_after_some_text)[-1]
    assert final.status == "interrupted" and final.error
    stored = store.messages(turn.conversation_id)[1]
    assert stored.status == "interrupted" and stored.text == turn.text and stored.text
    assert stored.timings["error_kind"] == "crashed"

    harness.session.apply_settings(harness.settings)
    again = harness.session.send(turn.conversation_id, "Say hello.")
    assert harness.finish(again)[-1].status == "complete"
    # The interrupted answer is still history; nothing failed or empty is.
    assert [m.role for m in harness.client.sent[-1]] == ["system", "user", "assistant", "user"]


def test_engine_failure_is_stored_as_failed_with_its_reason(
    harness: Harness, store: Store, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a model at all")
    harness.session.apply_settings(Settings(**{**harness.settings.__dict__, "model": str(bad)}))
    turn = harness.session.send(None, "Hello?")
    final = harness.finish(turn)[-1]
    assert final.status == "failed" and final.error
    stored = store.messages(turn.conversation_id)[1]
    assert stored.status == "failed" and stored.text == final.error  # nothing streamed: text says why
    assert stored.timings["error"] == final.error

    # A failed answer is not fed back to the model as history.
    harness.session.apply_settings(harness.settings)
    again = harness.session.send(turn.conversation_id, "Say hello.")
    assert [m.role for m in harness.client.sent[-1]] == ["system", "user", "user"]
    harness.finish(again)


def test_store_failure_while_streaming_keeps_the_answer_in_memory(harness: Harness, store: Store) -> None:
    turn = harness.session.send(None, "Name three colours.")
    errors: list[str] = []

    def break_store(update: TurnUpdate) -> None:
        if update.error:
            errors.append(update.error)
        store.connection.execute("PRAGMA query_only = ON")  # every later write fails

    updates = harness.finish(turn, break_store)
    final = updates[-1]
    assert final.finished and final.store_failed and final.error
    assert turn.text.strip()  # the whole answer is still in memory for the window to show
    assert len(errors) <= 2  # reported once while streaming (plus the final one), not per token
    store.connection.execute("PRAGMA query_only = OFF")
    stored = store.messages(turn.conversation_id)[1]
    assert stored.status == "streaming"  # the final write failed; next start marks it interrupted
    assert turn.text.startswith(stored.text)  # what did reach the disk is a prefix of the answer


def test_late_events_of_an_ended_or_closed_answer_change_nothing(harness: Harness, store: Store) -> None:
    turn = harness.session.send(None, "Hi")
    handler = harness.client.handlers[-1]  # the answer's own handler, bound when it was sent
    harness.finish(turn)
    assert turn.ticket is not None
    answered = turn.text
    handler(Token(turn.ticket.request_id, "<late>"))  # after Done: the turn is over
    assert turn.text == answered == store.messages(turn.conversation_id)[1].text

    second = harness.session.send(turn.conversation_id, "Hello again")
    handler = harness.client.handlers[-1]
    harness.session.close()  # the window closes mid-answer: kept as interrupted
    assert second.ticket is not None
    handler(Token(second.ticket.request_id, "<after close>"))
    stored = store.messages(second.conversation_id)[-1]
    assert stored.status == "interrupted" and "<after close>" not in stored.text
    assert harness.session.active_turn is None


def test_without_a_store_history_lives_in_memory(tmp_path: Path) -> None:
    made = Harness(None, smollm2_path(), tmp_path)
    try:
        first = made.session.send(None, "What is 2 + 2?")
        made.finish(first)
        second = made.session.send(first.conversation_id, "And 3 + 3?")
        assert [m.role for m in made.client.sent[-1]] == ["system", "user", "assistant", "user"]
        assert made.finish(second)[-1].status == "complete"
    finally:
        made.client.shutdown()


def test_answer_in_the_spoken_language(store: Store, tmp_path: Path) -> None:
    """With the setting on, the model is told which language the question was spoken in."""
    harness = Harness(store, smollm2_path(), tmp_path, answer_in_spoken_language=True)
    try:
        turn = harness.session.send(None, "Wie spät ist es?", spoken_language="de")
        system = harness.client.sent[-1][0]
        assert system.role == "system"
        assert system.content.startswith(harness.settings.system_prompt)
        assert system.content.endswith("Answer in German.")
        harness.finish(turn)

        # A typed question carries no instruction; translated speech neither (it arrives in English).
        turn = harness.session.send(turn.conversation_id, "And now?")
        assert harness.client.sent[-1][0].content == harness.settings.system_prompt
        harness.finish(turn)
        harness.session.apply_settings(
            Settings(**{**harness.settings.__dict__, "translate_to_english": True})
        )
        turn = harness.session.send(turn.conversation_id, "Thanks", spoken_language="de")
        assert harness.client.sent[-1][0].content == harness.settings.system_prompt
        harness.finish(turn)
    finally:
        harness.client.shutdown()


def prefill_and_wait(harness: Harness, conversation: int, text: str, **kwargs: Any) -> Done:
    """A prefill bound to its own recorder; pumped until it ends."""
    events: list[Event] = []
    ticket = harness.session.prefill(conversation, text, on_event=events.append, **kwargs)
    assert ticket is not None
    harness.inbox.pump_until(lambda: bool(events) and is_terminal(events[-1]))
    if isinstance(events[-1], Failed):
        raise AssertionError(events[-1].message)
    assert isinstance(events[-1], Done)
    return events[-1]


def test_prefill_readies_the_exact_prompt_that_send_then_sends(store: Store, tmp_path: Path) -> None:
    """Push-to-talk's head start: the prompt is evaluated before the question is asked."""
    harness = Harness(store, smollm2_path(), tmp_path, answer_in_spoken_language=True)
    try:
        first = harness.session.send(None, "Name a colour.")
        assert harness.session.prefill(first.conversation_id, "Name a fruit.") is None  # busy
        harness.finish(first)
        conversation = first.conversation_id
        before = len(store.messages(conversation))
        prefilled = prefill_and_wait(harness, conversation, "Name a fruit.", spoken_language="fr")
        assert prefilled.stats.prompt_tokens > 0
        assert len(store.messages(conversation)) == before  # nothing stored
        turn = harness.session.send(conversation, "Name a fruit.", spoken_language="fr")
        assert harness.client.sent[-1] == harness.client.prefilled[-1]  # history, language and all
        harness.finish(turn)
        timings = store.messages(conversation)[-1].timings
        assert timings["reused_tokens"] == timings["prompt_tokens"] > 0  # nothing left to evaluate
    finally:
        harness.client.shutdown()


def test_a_grounded_question_stores_what_was_typed_and_sends_the_grounding(
    harness: Harness, store: Store
) -> None:
    transcript = "[00:00] The new park by the river opens in June."
    grounding = Grounding("transcript", "park.wav", transcript)
    clip = Attachment("audio", "/recordings/park.wav", "park.wav", 48_000)
    prompt = grounded_question([grounding], "When does the park open?")
    grounded = GroundedQuestion("When does the park open?", prompt, (clip,), (grounding,))
    turn = harness.session.send(None, grounded.question, grounded=grounded)
    assert harness.client.sent[-1][-1].content == prompt  # the model got the transcript
    assert store.get_conversation(turn.conversation_id).title == "park.wav: When does the park open?"
    harness.finish(turn)
    question = store.messages(turn.conversation_id)[0]
    assert (question.text, question.prompt) == ("When does the park open?", prompt)
    assert question.attachments == (clip,) and question.groundings == (grounding,)

    # A follow-up still has the recording: the earlier question goes back as the model first saw it.
    follow_up = harness.session.send(turn.conversation_id, "And what is by the river?")
    history = harness.client.sent[-1]
    assert [m.content for m in history[1:2]] == [prompt]
    assert history[-1].content == "And what is by the river?"
    harness.finish(follow_up)


def test_an_answer_records_the_sampling_it_was_written_with(store: Store, tmp_path: Path) -> None:
    """Automatic sampling (issue 11): greedy for a short factual question, the small-model rule for an
    open one, a fresh seed each time; the engine's record is stored with the answer and shown."""
    made = Harness(store, smollm2_path(), tmp_path, temperature=None)
    try:
        turn = made.session.send(None, "What is the capital of France?")
        final = made.finish(turn)[-1]
        factual = store.messages(turn.conversation_id)[1].sampling
        assert factual is not None and factual["task"] == "factual" and factual["temperature"] == 0.0
        assert factual["seed"] == turn.sampling["seed"] and "greedily" in factual["reason"]
        assert final.timings["sampling"] == factual  # the window shows what was stored

        second = made.session.send(turn.conversation_id, "Write a haiku about rain.")
        made.finish(second)
        sampled = store.messages(turn.conversation_id)[3].sampling
        assert sampled is not None and sampled["task"] == "open"
        assert (sampled["temperature"], sampled["min_p"]) == (0.3, 0.1)  # SmolLM2 is a small model
        assert sampled["seed"] != factual["seed"]
        assert store.messages(turn.conversation_id)[0].sampling is None  # questions have none
    finally:
        made.client.shutdown()
